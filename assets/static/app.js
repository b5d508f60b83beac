// retain's small script: the CSRF header on every htmx request, keyboard
// shortcuts, and keyboard navigation of result lists. Everything works
// without it (plain links and forms); it only makes the pages quicker.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  // htmx 4 fires htmx:config:request before each request; the session's
  // CSRF token goes in a header so fragments need no hidden fields.
  document.addEventListener("htmx:config:request", (e) => {
    const t = csrf();
    if (t && e.detail?.ctx?.request?.headers) e.detail.ctx.request.headers["X-CSRF-Token"] = t;
  });

  const typing = (el) =>
    el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));

  let pendingG = false;
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const active = document.activeElement;
    if (e.key === "Escape" && typing(active)) { active.blur(); return; }
    if (typing(active)) return;
    const go = (href) => { if (href) window.location.href = href; };
    if (pendingG) {
      pendingG = false;
      const to = { c: "/customers", i: "/imports", h: "/", a: "/admin", d: "/dashboard", s: "/segments" }[e.key];
      if (to) { e.preventDefault(); go(to); }
      return;
    }
    switch (e.key) {
      case "/": {
        const box = document.querySelector("[data-search-primary]") || document.getElementById("quicksearch");
        if (box) { e.preventDefault(); box.focus(); box.select(); }
        break;
      }
      case "?": {
        const d = document.getElementById("shortcuts");
        if (d && !d.open) { e.preventDefault(); d.showModal(); }
        break;
      }
      case "g": pendingG = true; setTimeout(() => (pendingG = false), 1200); break;
      case "n": {
        const note = document.querySelector("[data-shortcut-note]");
        if (note) { e.preventDefault(); note.focus(); }
        break;
      }
    }
  });

  // Result lists marked data-results: ArrowDown/ArrowUp from the search box
  // move through the links, Enter opens the selected one.
  document.addEventListener("keydown", (e) => {
    const box = e.target.closest?.("[data-results-for]");
    const inList = e.target.closest?.("[data-results]");
    if (!box && !inList) return;
    const list = box ? document.getElementById(box.dataset.resultsFor) : inList;
    if (!list) return;
    const links = [...list.querySelectorAll("a[data-result]")];
    if (!links.length) return;
    const i = links.indexOf(document.activeElement);
    if (e.key === "ArrowDown") {
      e.preventDefault();
      links[Math.min(i + 1, links.length - 1)].focus();
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      if (i <= 0 && box === null) document.querySelector(`[data-results-for="${list.id}"]`)?.focus();
      else if (i > 0) links[i - 1].focus();
    } else if (e.key === "Enter" && box && i < 0) {
      // Enter in the box opens the first result, like a launcher.
      e.preventDefault();
      links[0].click();
    }
  });
})();
