// Behaviour any page may use, in place of inline handlers (the Content-Security-Policy
// runs no inline script): a select that submits its form when changed
// (data-autosubmit) and a button that goes back a page (data-back). Delegated from the
// document, so content HTMX swaps in works too.
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.requestSubmit();
});
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-back]")) history.back();
});
