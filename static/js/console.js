// OTP Streams console: progressive enhancements only; every page works without it.
"use strict";

// Copy buttons: <button data-copy="#element-id"> copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.value !== undefined ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text.trim());
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = "Copied";
  button.setAttribute("aria-live", "polite");
  setTimeout(() => { button.textContent = label; }, 1500);
});

// Forms that ask before they act (delete, rotate): <form data-confirm="...">.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// <select data-autosubmit> submits its form when changed (the account switcher).
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});

// --- SMS segments: the same rules as gateways/sms.py (3GPP TS 23.038 / 23.040) ---------
const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");
const GSM7_EXTENSION = new Set("^{}\\[~]|€\f");

function smsParts(text) {
  const chars = Array.from(text);
  const gsm = chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c));
  const size = (c) => (gsm ? (GSM7_EXTENSION.has(c) ? 2 : 1) : (c.codePointAt(0) > 0xffff ? 2 : 1));
  const units = chars.reduce((sum, c) => sum + size(c), 0);
  const single = gsm ? 160 : 70;
  const multi = gsm ? 153 : 67;
  let segments = units ? 1 : 0;
  if (units > single) {
    let used = 0;
    segments = 1;
    for (const c of chars) {
      if (used + size(c) > multi) { segments += 1; used = 0; }
      used += size(c);
    }
  }
  return { unicode: !gsm, characters: chars.length, segments };
}

function updateCounter(textarea) {
  const card = textarea.closest("[data-template-form]");
  if (!card) return;
  const holder = document.getElementById("template-forms");
  const length = Number(holder ? holder.dataset.codeLength : 6) || 6;
  const parts = smsParts(textarea.value.replaceAll("{{code}}", "0".repeat(length)));
  const counter = card.querySelector("[data-counter]");
  const plural = parts.segments === 1 ? "" : "s";
  counter.textContent = `${parts.characters} characters · ${parts.segments} SMS segment${plural} · ` +
    (parts.unicode ? "Unicode" : "GSM-7");
  card.querySelector("[data-unicode-warning]").hidden = !parts.unicode;
}

document.addEventListener("input", (event) => {
  if (event.target.matches("textarea.template-text")) updateCounter(event.target);
});

// Placeholders insert at the cursor of their template's text.
document.addEventListener("click", (event) => {
  const chip = event.target.closest("[data-insert]");
  if (!chip) return;
  const textarea = chip.closest("[data-template-form]").querySelector("textarea.template-text");
  const start = textarea.selectionStart ?? textarea.value.length;
  const end = textarea.selectionEnd ?? start;
  textarea.setRangeText(chip.dataset.insert, start, end, "end");
  textarea.focus();
  updateCounter(textarea);
});

// --- The wizard ----------------------------------------------------------------------------

function renumberIps() {
  document.querySelectorAll("#ip-list .ip-row").forEach((row, i) => {
    const input = row.querySelector("input");
    input.id = `ip-${i + 1}`;
    row.querySelector("label").htmlFor = input.id;
    row.querySelector("label").textContent = `Allowed IP ${i + 1}`;
  });
}

document.addEventListener("click", (event) => {
  if (event.target.id === "add-ip") {
    const row = document.getElementById("ip-row-template").content.firstElementChild.cloneNode(true);
    document.getElementById("ip-list").appendChild(row);
    renumberIps();
    row.querySelector("input").focus();
  } else if (event.target.matches("[data-remove-ip]")) {
    const list = document.getElementById("ip-list");
    const row = event.target.closest(".ip-row");
    if (list.children.length > 1) row.remove(); else row.querySelector("input").value = "";
    renumberIps();
  } else if (event.target.id === "add-template") {
    const total = document.getElementById("id_templates-TOTAL_FORMS");
    const html = document.getElementById("template-form-template").innerHTML
      .replaceAll("__prefix__", total.value);
    const holder = document.getElementById("template-forms");
    holder.insertAdjacentHTML("beforeend", html);
    total.value = Number(total.value) + 1;
    const card = holder.lastElementChild;
    card.querySelector("input[type=checkbox][name$='-enabled']").checked = true;
    card.querySelector("input[type=text]").focus();
  }
});

// Sections shown only when a field has a value: data-show-when="name=value"
// (a radio group by name, or a select / checkbox by id; a checkbox's value is "on").
function applyShowWhen() {
  document.querySelectorAll("[data-show-when]").forEach((section) => {
    const [key, wanted] = section.dataset.showWhen.split("=");
    let value = "";
    const byId = document.getElementById(key);
    if (byId && byId.type === "checkbox") value = byId.checked ? "on" : "";
    else if (byId) value = byId.value;
    else {
      const checked = document.querySelector(`input[name="${key}"]:checked`);
      value = checked ? checked.value : "";
    }
    section.hidden = value !== wanted;
  });
}
document.addEventListener("change", applyShowWhen);
document.addEventListener("DOMContentLoaded", () => {
  applyShowWhen();
  document.querySelectorAll("textarea.template-text").forEach(updateCounter);
  const dialog = document.querySelector("dialog[data-modal][open]");
  if (dialog && dialog.showModal) { dialog.close(); dialog.showModal(); }
});

// A page showing work in progress (a background import) reloads itself until it ends:
// <section data-refresh-seconds="2">.
const refreshing = document.querySelector("[data-refresh-seconds]");
if (refreshing) {
  setTimeout(() => window.location.reload(), 1000 * Number(refreshing.dataset.refreshSeconds));
}
