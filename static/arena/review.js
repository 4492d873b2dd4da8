// The review page: loads items from the JSON API (no full reload), sends votes once.
// Keys: 1 or ArrowLeft = left, 2 or ArrowRight = right, 3 = tie, 4 = both bad, S = skip.
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

  function vote(choice) {
    const seconds = (performance.now() - shownAt) / 1000;
    post("/vote/", { choice: choice, comment: $("comment").value, seconds_on_task: seconds });
  }

  root.querySelectorAll("button.choice").forEach((b) => b.addEventListener("click", () => vote(b.dataset.choice)));
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
      vote(keys[event.key]);
    } else if (event.key === "s" || event.key === "S") {
      event.preventDefault();
      post("/skip/");
    }
  });

  loadNext();
})();
