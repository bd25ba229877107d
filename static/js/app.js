// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Toasts fade after a while.
  function ageToasts(root) {
    (root || document).querySelectorAll(".toast:not([data-aged])").forEach(function (el) {
      el.setAttribute("data-aged", "1");
      setTimeout(function () { el.classList.add("toast-gone"); }, 6000);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { ageToasts(); });
  document.addEventListener("htmx:afterSettle", function (e) { ageToasts(e.target); });
  // "toast" events sent with HX-Trigger: {"toast": {"level": "success", "message": "…"}}
  document.addEventListener("toast", function (e) {
    var box = document.getElementById("toasts");
    if (!box || !e.detail) return;
    var el = document.createElement("div");
    el.className = "toast toast-" + (e.detail.level || "info");
    el.textContent = e.detail.message || "";
    box.appendChild(el);
    ageToasts(box);
  });
  // Select-all checkboxes for bulk actions: <input type=checkbox data-select-all="name">
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.matches && t.matches("input[data-select-all]")) {
      var name = t.getAttribute("data-select-all");
      document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (c) { c.checked = t.checked; });
    }
  });
  // Confirmation before a destructive submit: <form data-confirm="Delete this?"> (no inline handlers: CSP).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form && form.matches && form.matches("form[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);
})();
