// Copy buttons: <button data-copy="#selector"> copies that input's value (or element's text).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = "value" in source ? source.value : source.textContent.trim();
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    if ("select" in source) { source.select(); document.execCommand("copy"); }
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// Buttons with data-confirm="question" submit their form only once the person confirms.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
});

// JSON textareas (<textarea data-json>): say whether the text parses as the person types, and
// pretty-print it on <button data-format-json="#id">. The server validates again on submit.
function checkJson(textarea) {
  const status = textarea.closest("form")?.querySelector(".json-status");
  if (!status) return;
  try {
    JSON.parse(textarea.value);
    status.textContent = "Valid JSON";
    status.classList.remove("error");
    textarea.removeAttribute("aria-invalid");
  } catch (error) {
    status.textContent = `Not valid JSON: ${error.message}`;
    status.classList.add("error");
    textarea.setAttribute("aria-invalid", "true");
  }
}
document.addEventListener("input", (event) => {
  if (event.target.matches("textarea[data-json]")) checkJson(event.target);
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-format-json]");
  if (!button) return;
  const textarea = document.querySelector(button.dataset.formatJson);
  try {
    textarea.value = JSON.stringify(JSON.parse(textarea.value), null, 2);
  } catch {
    // leave the text as typed; checkJson explains what is wrong
  }
  checkJson(textarea);
});
