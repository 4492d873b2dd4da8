// The campaign admin's contestant rows (arena/admin_contestants.py): picking a model from the
// catalog copies its API id and prices (the option's data attributes) into the same row's
// fields, and its name into the label when that is empty. A file, not an inline script, for the
// Content-Security-Policy. Delegated from the document, so rows added with "Add another" work too.
(function () {
  const FIELDS = {model: "model", priceOut: "price_per_mtok_out", priceIn: "price_per_mtok_in"};
  document.addEventListener("change", function (event) {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.classList.contains("catalog-pick")) return;
    const option = select.selectedOptions[0];
    if (!option || !option.value) return;
    const prefix = select.name.slice(0, -"catalog".length);  // "contestants-0-"
    const field = (name) => document.querySelector(`[name="${prefix}${name}"]`);
    for (const [key, name] of Object.entries(FIELDS)) {
      const input = field(name);
      const value = option.dataset[key];
      if (input && value) input.value = value;
    }
    const label = field("label");
    if (label && !label.value) label.value = option.dataset.label;
  });
})();
