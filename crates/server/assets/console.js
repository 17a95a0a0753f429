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
