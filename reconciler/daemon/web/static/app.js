// Copy a conflict's pin to the clipboard; the <pre> stays selectable where the API is missing.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.copy");
  if (!button) return;
  var text = document.getElementById(button.dataset.copy).textContent;
  var done = function () { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () {});
  } else {
    var range = document.createRange();
    range.selectNodeContents(document.getElementById(button.dataset.copy));
    var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
    if (document.execCommand("copy")) done();
  }
});
