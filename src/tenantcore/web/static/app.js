// Copy buttons: <button data-copy="text">. Everything else works without JavaScript.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
});

// Forms with data-confirm ask first (without JavaScript they submit at once).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// The DNS provider form shows only the chosen kind's settings (without JavaScript: all of them).
function showKind(select) {
  for (const fieldset of select.form.querySelectorAll("fieldset[data-kind]")) {
    fieldset.hidden = fieldset.dataset.kind !== select.value;
  }
}
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-kind-select]")) showKind(event.target);
});
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("[data-kind-select]")) showKind(select);
});

// A "select all" box (data-select-all="name") ticks every checkbox of that name in its form.
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (!all) return;
  for (const box of all.form.querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`)) {
    box.checked = all.checked;
  }
});
