// Copy buttons: <button data-copy="#field"> copies that field's value. The Clipboard
// API needs a secure context (https or localhost); elsewhere the field is selected
// and copied the old way, and at worst left selected for Ctrl+C.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  const field = button && document.querySelector(button.dataset.copy);
  if (!field) return;
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch (error) {
      copied = false;
    }
  }
  if (!copied) {
    field.select();
    copied = document.execCommand("copy");
  }
  // Said on the button, in a colour that stays readable while it has the focus.
  button.dataset.label = button.dataset.label || button.textContent;
  button.dataset.look = button.dataset.look || button.className;
  button.textContent = copied ? "Copied" : "Press Ctrl+C";
  button.className = `btn ${copied ? "btn-success" : "btn-warning"}`;
  setTimeout(() => {
    button.textContent = button.dataset.label;
    button.className = button.dataset.look;
  }, 3000);
});
