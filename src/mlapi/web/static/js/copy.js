// A "Copy" button on every code block marked data-copy, in the page's language (the body's data-copy-label
// and data-copied-label). Without JavaScript the block stays plain, selectable text. The clipboard API needs a secure context (https or localhost); elsewhere the
// text is selected and copied the older way.
"use strict";

const LABELS = { copy: document.body.dataset.copyLabel || "Copy", copied: document.body.dataset.copiedLabel || "Copied" };

function copyText(block, button) {
  const text = block.querySelector("code").textContent;
  const done = () => {
    button.textContent = LABELS.copied;
    setTimeout(() => { button.textContent = LABELS.copy; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectAndCopy(block, done));
  } else {
    selectAndCopy(block, done);
  }
}

function selectAndCopy(block, done) {
  const range = document.createRange();
  range.selectNodeContents(block.querySelector("code"));
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  if (document.execCommand("copy")) {
    done();
  }
}

document.querySelectorAll("pre[data-copy]").forEach((block) => {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = LABELS.copy;
  button.addEventListener("click", () => copyText(block, button));
  block.before(button);
});
