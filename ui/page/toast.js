// Toasts in the page's language: Gradio's titles ("Error", "Warning") in Chinese on a Chinese
// page, and its wrong-file-type toast (a dozen MIME types) as the app says it, naming the formats.
(() => {
  const names = __NAMES__;  // {"Error": "错误", ...}
  const kinds = __KINDS__;  // {"audio": {"en": "...{files}...", "zh-CN": "..."}, "image": {...}}
  const fix = () => {
    const zh = (document.documentElement.lang || "").toLowerCase().startsWith("zh");
    for (const text of document.querySelectorAll(".toast-message-text, .toast-text")) {
      const found = /^Invalid file types?: (.*)\. Only (.*) allowed\.$/s.exec(text.textContent.trim());
      const kind = found && ["audio", "image"].find((k) => found[2].includes(k + "/"));
      if (kind) text.textContent = kinds[kind][zh ? "zh-CN" : "en"].replace("{files}", found[1]);
    }
    if (!zh) return;
    for (const title of document.querySelectorAll(".toast-title"))
      for (const node of title.childNodes)
        if (node.nodeType === 3 && names[node.textContent.trim()]) node.textContent = names[node.textContent.trim()] + " ";
  };
  new MutationObserver(fix).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
})();
