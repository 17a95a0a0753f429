// latchkey console: the few things plain HTML cannot do. Everything works without this
// script except copying to the clipboard and revealing a masked secret.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy], button[data-reveal]");
  if (!button) return;
  if (button.dataset.copy) {
    const field = document.getElementById(button.dataset.copy);
    navigator.clipboard.writeText(field.value).then(
      () => flash(button, "Copied"),
      () => { field.type = "text"; field.select(); flash(button, "Press Ctrl+C"); },
    );
  } else {
    const field = document.getElementById(button.dataset.reveal);
    const shown = field.type === "text";
    field.type = shown ? "password" : "text";
    button.textContent = shown ? "Show" : "Hide";
    button.setAttribute("aria-pressed", String(!shown));
  }
});

function flash(button, text) {
  const before = button.textContent;
  button.textContent = text;
  setTimeout(() => { button.textContent = before; }, 1500);
}

// The policy editor: checks the document as you type with the server's own validator
// (the check CreatePolicy runs), a moment after typing stops. Without the script the
// form still works and the same errors show after submitting.
for (const field of document.querySelectorAll("textarea[data-validate]")) {
  const form = field.form;
  const error = document.getElementById(field.id + "-error");
  const ok = document.getElementById(field.id + "-ok");
  let timer = null;
  let sent = 0;
  field.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++sent;
      const body = new URLSearchParams({ csrf: form.elements.csrf.value, document: field.value });
      try {
        const response = await fetch(field.dataset.validate, { method: "POST", body, credentials: "same-origin" });
        if (!response.ok || mine !== sent) return;
        const result = await response.json();
        error.textContent = result.valid ? "" : result.error;
        ok.hidden = !result.valid;
        if (result.valid) field.removeAttribute("aria-invalid");
        else field.setAttribute("aria-invalid", "true");
      } catch (_) {
        // Offline or signed out: the check on submit still applies.
      }
    }, 400);
  });
}

// A list with a search field (`data-filter` names the list): rows whose name does not hold
// what is typed are hidden as you type, except those already chosen. Without the script,
// the Search button next to the field filters on the server.
for (const field of document.querySelectorAll("input[data-filter]")) {
  const list = document.getElementById(field.dataset.filter);
  if (!list) continue;
  field.addEventListener("input", () => {
    const typed = field.value.trim().toLowerCase();
    for (const row of list.children) {
      const chosen = row.querySelector("input:checked") !== null;
      row.hidden = !chosen && typed !== "" && !row.dataset.name.includes(typed);
    }
  });
}
