// The review page: loads items from the JSON API (no full reload), sends votes once.
// Keys: 1 or ArrowLeft = left, 2 or ArrowRight = right, 3 = tie, 4 = both bad, S = skip.
// An item with criteria is answered row by row: the overall row, then each criterion in order.
// The same keys answer the highlighted row and move the highlight down; ArrowUp/ArrowDown move
// it; Enter sends once the overall row and every required criterion are answered. Without
// criteria a key sends the vote at once, as before.
(function () {
  "use strict";
  const root = document.getElementById("review");
  if (!root) return;
  const campaign = root.dataset.campaign;
  const nextUrl = root.dataset.nextUrl + "?campaign=" + encodeURIComponent(campaign);
  const apiRoot = root.dataset.apiRoot;
  const csrf = root.querySelector("[name=csrfmiddlewaretoken]").value;
  const $ = (id) => document.getElementById(id);
  const buttons = () => root.querySelectorAll(".controls button");

  let token = null; // the current item's opaque id
  let busy = true; // true while a request is in flight: a double press sends nothing
  let shownAt = 0;
  let criteria = []; // the current item's criteria, [{key, question, required}]
  let answers = []; // row index (0 = overall, i + 1 = criterion i) -> choice
  let active = 0; // the row the keys answer
  const LABELS = [["left", "1", "Left"], ["right", "2", "Right"], ["tie", "3", "Tie"], ["both_bad", "4", "Both bad"]];
  const rowElements = () => root.querySelectorAll(".answer-row");

  function setActive(index) {
    const rows = rowElements();
    active = Math.max(0, Math.min(index, rows.length - 1));
    rows.forEach((row, i) => {
      row.classList.toggle("active", criteria.length > 0 && i === active);
      if (i === active) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    });
  }

  function choose(index, choice) {
    if (!criteria.length) return vote(choice);
    if (busy) return;
    answers[index] = choice;
    rowElements()[index].querySelectorAll("button").forEach((b) => {
      b.setAttribute("aria-pressed", String(b.dataset.choice === choice));
    });
    setActive(index + 1);
  }

  // One row per criterion, built with textContent: a question is never read as HTML.
  function showCriteria(list) {
    criteria = list || [];
    answers = [];
    const box = $("criteria");
    box.replaceChildren();
    criteria.forEach((c, i) => {
      const row = document.createElement("div");
      row.className = "answer-row";
      row.dataset.row = String(i + 1);
      const q = document.createElement("p");
      q.className = "row-question";
      q.textContent = c.question;
      if (!c.required) {
        const optional = document.createElement("span");
        optional.className = "optional";
        optional.textContent = " (optional)";
        q.appendChild(optional);
      }
      const choices = document.createElement("div");
      choices.className = "row-choices";
      LABELS.forEach(([choice, key, label]) => {
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.choice = choice;
        b.setAttribute("aria-pressed", "false");
        b.setAttribute("aria-label", c.question + ": " + label);
        const k = document.createElement("kbd");
        k.textContent = key;
        b.append(k, " " + label);
        b.addEventListener("click", () => choose(i + 1, choice));
        choices.appendChild(b);
      });
      row.append(q, choices);
      box.appendChild(row);
    });
    box.hidden = !criteria.length;
    $("criteria-help").hidden = !criteria.length;
    root.querySelector('.answer-row[data-row="0"] .row-question').hidden = !criteria.length;
    root.querySelectorAll("button.choice").forEach((b) => b.removeAttribute("aria-pressed"));
    setActive(0);
  }

  function send() {
    if (busy || !criteria.length) return;
    const missing = [0, ...criteria.map((c, i) => (c.required ? i + 1 : -1))].find((i) => i >= 0 && !answers[i]);
    if (missing !== undefined) {
      say("Answer this row first: " + (missing === 0 ? "overall, which answer is better?" : criteria[missing - 1].question));
      return setActive(missing);
    }
    const given = {};
    criteria.forEach((c, i) => { if (answers[i + 1]) given[c.key] = answers[i + 1]; });
    vote(answers[0], given);
  }

  function setBusy(value) {
    busy = value;
    buttons().forEach((b) => { b.disabled = value; });
  }

  function say(text) {
    const m = $("message");
    m.textContent = text || "";
    m.hidden = !text;
  }

  async function api(url, options) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    init.headers["Accept"] = "application/json";
    if (init.method === "POST") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrf;
    }
    const response = await fetch(url, init);
    let body = null;
    if (response.status !== 204) {
      try { body = await response.json(); } catch (e) { body = null; }
    }
    return { status: response.status, body: body };
  }

  function showDone() {
    token = null;
    $("item").hidden = true;
    $("done").hidden = false;
    setBusy(true);
  }

  // A conversation is shown as text (textContent: nothing in it is parsed as markup), turn by
  // turn; a long turn is folded to a few lines; an image fits its turn and enlarges on click.
  const ROLES = { system: "System", user: "User", assistant: "Assistant" };
  const FOLD_CHARS = 600;
  const FOLD_LINES = 8;
  const lightbox = $("lightbox");

  function enlarge(img) {
    $("lightbox-img").src = img.src;
    $("lightbox-img").alt = img.alt;
    lightbox.showModal();
  }
  lightbox.addEventListener("click", () => lightbox.close());

  function element(tag, className, text) {
    const node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function turnItem(turn) {
    const role = ROLES[turn.role] ? turn.role : "user";
    const li = element("li", "turn turn-" + role);
    li.appendChild(element("p", "turn-role", ROLES[role]));
    const text = turn.text || "";
    if (text) {
      li.appendChild(element("p", "turn-text", text));
      if (text.length > FOLD_CHARS || text.split("\n").length > FOLD_LINES) {
        li.classList.add("folded");
        const fold = element("button", "turn-fold", "Show all");
        fold.type = "button";
        fold.setAttribute("aria-expanded", "false");
        fold.addEventListener("click", () => {
          const folded = li.classList.toggle("folded");
          fold.textContent = folded ? "Show all" : "Show less";
          fold.setAttribute("aria-expanded", String(!folded));
        });
        li.appendChild(fold);
      }
    }
    if (turn.images && turn.images.length) {
      const box = element("div", "turn-images");
      turn.images.forEach((url, j) => {
        const img = element("img", "turn-image");
        img.src = url;
        img.alt = "Image " + (j + 1) + " of this " + ROLES[role].toLowerCase() + " turn (click to enlarge)";
        img.tabIndex = 0;
        img.addEventListener("click", () => enlarge(img));
        img.addEventListener("keydown", (event) => {
          if (event.key !== "Enter") return;
          event.preventDefault();
          event.stopPropagation(); // Enter on an image enlarges it and sends nothing
          enlarge(img);
        });
        box.appendChild(img);
      });
      li.appendChild(box);
    }
    return li;
  }

  function showPrompt(item) {
    const turns = item.conversation;
    $("prompt-card").hidden = Boolean(turns);
    $("conversation-card").hidden = !turns;
    // The HTML was made safe on the server (markdown without raw HTML, then sanitised).
    $("prompt").innerHTML = turns ? "" : item.prompt_html;
    $("conversation").replaceChildren(...(turns || []).map(turnItem));
    $("conversation-card").scrollTop = 0;
  }

  function show(item) {
    token = item.assignment;
    showPrompt(item);
    $("left").innerHTML = item.left.html;
    $("right").innerHTML = item.right.html;
    $("left").scrollTop = 0;
    $("right").scrollTop = 0;
    if (item.progress) $("progress").textContent = item.progress.done + " of " + item.progress.total;
    $("comment").value = "";
    showCriteria(item.criteria);
    $("flag-form").hidden = true;
    $("done").hidden = true;
    $("item").hidden = false;
    shownAt = performance.now();
    setBusy(false);
  }

  async function loadNext() {
    setBusy(true);
    try {
      const r = await api(nextUrl);
      if (r.status === 204) return showDone();
      if (r.status === 200) return show(r.body);
      say((r.body && r.body.detail) || "Could not load the next item.");
    } catch (e) {
      say("Network problem: could not load the next item. Reload the page to try again.");
    }
  }

  async function post(path, payload) {
    if (busy || !token) return;
    setBusy(true);
    say("");
    try {
      const r = await api(apiRoot + encodeURIComponent(token) + path, { method: "POST", body: JSON.stringify(payload || {}) });
      if (r.status === 409) say((r.body && r.body.detail) || "This item was already handled.");
      else if (r.status >= 400) {
        say((r.body && r.body.detail) || "Something went wrong; try again.");
        setBusy(false);
        return;
      }
      await loadNext();
    } catch (e) {
      say("Network problem: nothing was recorded. Try again.");
      setBusy(false);
    }
  }

  function vote(choice, given) {
    const seconds = (performance.now() - shownAt) / 1000;
    const payload = { choice: choice, comment: $("comment").value, seconds_on_task: seconds };
    if (given) payload.criteria = given;
    post("/vote/", payload);
  }

  root.querySelectorAll("button.choice").forEach((b) => b.addEventListener("click", () => choose(0, b.dataset.choice)));
  $("send").addEventListener("click", send);
  $("skip").addEventListener("click", () => post("/skip/"));
  $("flag-open").addEventListener("click", () => {
    $("flag-form").hidden = false;
    $("flag-reason").focus();
  });
  $("flag-cancel").addEventListener("click", () => { $("flag-form").hidden = true; });
  $("flag-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const reason = $("flag-reason").value.trim();
    if (!reason) return;
    $("flag-reason").value = "";
    post("/flag/", { reason: reason });
  });

  const keys = { "1": "left", ArrowLeft: "left", "2": "right", ArrowRight: "right", "3": "tie", "4": "both_bad" };
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.repeat) return; // a held key is one press
    if (lightbox.open) return; // the enlarged image closes on Esc or a click first
    if (keys[event.key]) {
      event.preventDefault();
      choose(criteria.length ? active : 0, keys[event.key]);
    } else if (criteria.length && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      setActive(active + (event.key === "ArrowUp" ? -1 : 1));
    } else if (criteria.length && event.key === "Enter") {
      event.preventDefault();
      send();
    } else if (event.key === "s" || event.key === "S") {
      event.preventDefault();
      post("/skip/");
    }
  });

  loadNext();
})();
