// Copy buttons: <button data-copy="ELEMENT-ID"> copies that element's text
// and says so. No inline script: the pages' CSP allows only 'self'.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch (_) {
    // No clipboard (an insecure origin, or permission refused): select the
    // text so it can be copied by hand.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: copy it now";
  }
});
