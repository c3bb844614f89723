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

// Forms and buttons that ask before they act (disable, rotate, delete, apply to a live
// stream): data-confirm="question" on the <form> or on its submit button, optionally
// data-confirm-action="Rotate" for the confirm button's label. A styled <dialog>;
// without script the form simply submits.
function confirmDialog() {
  let dialog = document.getElementById("confirm-dialog");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "confirm-dialog";
  dialog.className = "confirm-dialog";
  dialog.setAttribute("aria-labelledby", "confirm-dialog-text");
  dialog.innerHTML = '<form method="dialog"><p id="confirm-dialog-text"></p>' +
    '<div class="actions"><button value="cancel" class="btn" id="confirm-cancel">Cancel</button>' +
    '<button value="ok" class="btn btn-danger" id="confirm-ok"></button></div></form>';
  document.body.appendChild(dialog);
  return dialog;
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  const submitter = event.submitter;
  const source = submitter && submitter.dataset.confirm ? submitter : form;
  const question = source.dataset && source.dataset.confirm;
  if (!question || form.dataset.confirmed === "1") {
    delete form.dataset.confirmed;
    return;
  }
  event.preventDefault();
  const dialog = confirmDialog();
  dialog.querySelector("#confirm-dialog-text").textContent = question;
  const ok = dialog.querySelector("#confirm-ok");
  ok.textContent = source.dataset.confirmAction || (submitter ? submitter.textContent.trim() : "OK");
  dialog.onclose = () => {
    if (dialog.returnValue !== "ok") return;
    form.dataset.confirmed = "1";
    if (submitter) form.requestSubmit(submitter); else form.requestSubmit();
  };
  dialog.returnValue = "";
  dialog.showModal();
  dialog.querySelector("#confirm-cancel").focus();
});

// <select data-autosubmit> submits its form when changed (the account switcher).
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});

// --- SMS segments: the same rules as gateways/sms.py (3GPP TS 23.038 / 23.040) ---------
// tests/test_counter_agreement.py runs these functions in node against the server's.
const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");
const GSM7_EXTENSION = new Set("^{}\\[~]|€\f");

// Smart encoding: look-alikes that would force UCS-2, and their GSM-7 equivalents
// (gateways/sms.py SMART_REPLACEMENTS, listed in docs/api.md).
const SMART_REPLACEMENTS = {
  "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
  "\u00b4": "'", "`": "'",
  "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"',
  "\u00bb": '"', "\u2039": "<", "\u203a": ">",
  "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
  "\u2212": "-", "\u2026": "...", "\u2024": ".", "\u02c6": "^", "\u02dc": "~",
  "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ", "\u2005": " ", "\u2006": " ",
  "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u205f": " ",
  "\u3000": " ",
};

function smartEncode(text) {
  return Array.from(text, (c) => SMART_REPLACEMENTS[c] ?? c).join("");
}

// The empty text is 0 characters of GSM-7 in 0 segments: it cannot be sent.
function smsParts(text) {
  const chars = Array.from(text);
  const gsm = chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENSION.has(c));
  const size = (c) => (gsm ? (GSM7_EXTENSION.has(c) ? 2 : 1) : (c.codePointAt(0) > 0xffff ? 2 : 1));
  const units = chars.reduce((sum, c) => sum + size(c), 0);
  const single = gsm ? 160 : 70;
  const multi = gsm ? 153 : 67;
  let segments = units ? 1 : 0;
  let perSegment = single;
  let used = units;
  if (units > single) {
    perSegment = multi;
    used = 0;
    segments = 1;
    for (const c of chars) {
      if (used + size(c) > multi) { segments += 1; used = 0; }
      used += size(c);
    }
  }
  return {
    encoding: gsm ? "gsm7" : "ucs2",
    unicode: !gsm,
    characters: chars.length,
    units,
    segments,
    per_segment: perSegment,
    remaining: perSegment - used,
    payload_bytes: gsm ? Math.ceil((units * 7) / 8) : units * 2,
  };
}

// What the counter shows for a text: with smart encoding on, the replaced text is what
// is sent, and the saving is shown when there is one.
function describeCounter(text, smart) {
  const sent = smart ? smartEncode(text) : text;
  const parts = smsParts(sent);
  const plural = parts.segments === 1 ? "" : "s";
  let label = `${parts.characters} characters · ${parts.segments} SMS segment${plural} · ` +
    (parts.unicode ? "Unicode" : "GSM-7");
  if (!parts.characters) label += " · an empty text cannot be sent";
  if (smart && sent !== text) {
    const before = smsParts(text);
    const replaced = Array.from(text).filter((c) => c in SMART_REPLACEMENTS).length;
    label += ` · smart encoding replaced ${replaced} character${replaced === 1 ? "" : "s"}`;
    const saving = [];
    const fewer = before.segments - parts.segments;
    if (fewer > 0) saving.push(`${fewer} segment${fewer === 1 ? "" : "s"} saved`);
    if (before.unicode && !parts.unicode) saving.push("GSM-7 instead of Unicode");
    if (saving.length) label += ` (${saving.join(", ")})`;
  }
  return { parts, label };
}

// The message as the recipient gets it: streams/messages.py compose_sms, line for line.
function composeMessage(body, code, fmt, doNotShare) {
  let text = body;
  if (fmt.doNotShare) text += "\n" + doNotShare;
  if (fmt.appHash) {
    if (fmt.prefix) text = "<#> " + text;
    text += "\n\n" + fmt.appHash;
  }
  if (fmt.domain) text += `\n\n@${fmt.domain} #${code}`;
  return text;
}

// A message's estimated cost to the country chosen in the editor: console/previews.py
// describe_cost, line for line (prices in whole 1/100,000ths, so no float rounding).
function money(amount) {
  const whole = Math.floor(amount / 100000);
  const fraction = String(amount % 100000).padStart(5, "0").replace(/0+$/, "").padEnd(2, "0");
  return `${whole}.${fraction}`;
}

function describeCost(segments, country, costs) {
  const entry = costs && costs.countries[country];
  if (!entry || !segments) return "";
  if (entry.price === null) return `No SMS price for ${entry.name} in the price table: no estimate.`;
  const plural = segments === 1 ? "" : "s";
  return `≈ ${money(entry.price * segments)} ${costs.currency} a message to ${entry.name} ` +
    `(${segments} segment${plural} at ${money(entry.price)})`;
}

const PLACEHOLDER_RE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

function counterData() {
  const element = document.getElementById("counter-data");
  return element ? JSON.parse(element.textContent) : null;
}

function settingValue(name) {
  const element = document.getElementById(`id_message-${name}`);
  if (!element) return null;
  return element.type === "checkbox" ? element.checked : element.value.trim();
}

// One text of the wizard's step 3: measured, previewed and checked as the server does
// (console/previews.py preview_message), with the settings as they are on the page.
function updateCounter(textarea) {
  const card = textarea.closest("[data-template-form]");
  const variant = textarea.closest("[data-variant]");
  const data = counterData();
  if (!card || !variant || !data) return;
  let locale = settingValue("default_locale") || data.default_locale;
  if (!variant.matches("[data-default-variant]")) {
    const input = variant.querySelector("input[type=text]");
    if (input && input.value.trim()) locale = input.value.trim();
  }
  const words = data.words[locale.split(/[-_]/)[0].toLowerCase()] || data.words.en;
  const brandInput = document.getElementById("id_message-brand");
  const brand = brandInput ? (brandInput.value.trim() || brandInput.placeholder) : data.brand;
  const values = { ...data.values, code: data.code, brand, expires_in: words.expires_in };
  const body = textarea.value.replace(PLACEHOLDER_RE, (match, name) =>
    (Object.hasOwn(values, name) ? values[name] : match));
  const domainInput = card.querySelector("input[name$='-webotp_domain']");
  const retriever = settingValue("retriever_enabled");
  const fmt = {
    doNotShare: settingValue("do_not_share"),
    domain: (domainInput && domainInput.value.trim()) || settingValue("webotp_domain") || "",
    appHash: retriever ? settingValue("retriever_app_hash") || "" : "",
    prefix: retriever && settingValue("retriever_prefix"),
  };
  const composed = composeMessage(body, data.code, fmt, words.do_not_share);
  const smart = settingValue("smart_encoding") ?? true;
  const { parts, label } = describeCounter(composed, smart);
  variant.querySelector("[data-counter]").textContent = label;
  const costCountry = document.getElementById("cost-country");
  const cost = variant.querySelector("[data-cost]");
  if (cost) cost.textContent = describeCost(parts.segments, costCountry && costCountry.value, data.cost);
  variant.querySelector("[data-unicode-warning]").hidden = !parts.unicode;
  variant.querySelector("[data-preview]").textContent = smart ? smartEncode(composed) : composed;
  const warning = variant.querySelector("[data-autofill-warning]");
  const max = data.retriever_max_bytes;
  warning.hidden = !(fmt.appHash && parts.payload_bytes > max);
  if (!warning.hidden) {
    warning.textContent = `With the SMS Retriever hash this message is ${parts.payload_bytes} ` +
      `bytes; Android reads it only up to ${max} (one segment). Shorten the text.`;
  }
}

function updateAllCounters() {
  document.querySelectorAll("textarea.template-text").forEach(updateCounter);
}

let lastTextarea = null;
document.addEventListener("focusin", (event) => {
  if (event.target.matches("textarea.template-text")) lastTextarea = event.target;
});

document.addEventListener("input", (event) => {
  if (event.target.matches("textarea.template-text")) updateCounter(event.target);
  else if (event.target.closest("[data-variant]")) {
    const textarea = event.target.closest("[data-variant]").querySelector("textarea.template-text");
    if (textarea) updateCounter(textarea);
  } else if (event.target.closest("#message-settings, [data-template-form]")) updateAllCounters();
});
document.addEventListener("change", (event) => {
  if (event.target.closest("#message-settings") || event.target.id === "cost-country") {
    updateAllCounters();
  }
});

// Placeholders insert at the cursor of the card's text last edited (its default text
// when none was).
document.addEventListener("click", (event) => {
  const chip = event.target.closest("[data-insert]");
  if (!chip) return;
  const card = chip.closest("[data-template-form]");
  const textarea = lastTextarea && card.contains(lastTextarea)
    ? lastTextarea : card.querySelector("textarea.template-text");
  const start = textarea.selectionStart ?? textarea.value.length;
  const end = textarea.selectionEnd ?? start;
  textarea.setRangeText(chip.dataset.insert, start, end, "end");
  textarea.focus();
  updateCounter(textarea);
});

// "+ Add a language": a variant row named after the card's form prefix.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-add-variant]");
  if (!button) return;
  const card = button.closest("[data-template-form]");
  const prefix = card.dataset.prefix;
  const used = Array.from(card.querySelectorAll("input[name*='-variant_locale_']"))
    .map((input) => Number(input.name.split("_").pop()));
  const n = used.length ? Math.max(...used) + 1 : 0;
  const html = document.getElementById("variant-template").innerHTML
    .replaceAll("__locale__", `${prefix}-variant_locale_${n}`)
    .replaceAll("__text__", `${prefix}-variant_text_${n}`);
  card.querySelector("[data-variants]").insertAdjacentHTML("beforeend", html);
  const row = card.querySelector("[data-variants]").lastElementChild;
  updateCounter(row.querySelector("textarea"));
  row.querySelector("input").focus();
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
  updateAllCounters();
  const dialog = document.querySelector("dialog[data-modal][open]");
  if (dialog && dialog.showModal) { dialog.close(); dialog.showModal(); }
});

// --- Country picker: <select multiple data-country-picker> becomes a search box with the
// chosen countries as removable chips. The select stays in the form (hidden) and is what
// is submitted; without JavaScript it is a plain multiple select with the names.
function countryPicker(select) {
  const picker = document.createElement("div");
  picker.className = "country-picker";
  const chips = document.createElement("ul");
  chips.className = "chips";
  chips.setAttribute("aria-label", "Chosen");
  const search = document.createElement("input");
  search.type = "search";
  search.placeholder = "Type a country name or code";
  search.setAttribute("aria-label", (select.labels[0] ? select.labels[0].textContent : "Countries") + ": search");
  search.disabled = select.disabled;
  const results = document.createElement("ul");
  results.className = "picker-results";
  results.setAttribute("role", "listbox");

  function renderChips() {
    chips.replaceChildren();
    for (const option of select.selectedOptions) {
      const chip = document.createElement("li");
      chip.textContent = option.textContent + " ";
      if (!select.disabled) {
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "btn-link";
        remove.textContent = "×";
        remove.setAttribute("aria-label", "Remove " + option.textContent);
        remove.addEventListener("click", () => { option.selected = false; renderChips(); });
        chip.append(remove);
      }
      chips.append(chip);
    }
  }

  function renderResults() {
    results.replaceChildren();
    const query = search.value.trim().toLowerCase();
    if (!query) return;
    const matches = [...select.options].filter(
      (o) => !o.selected && (o.textContent.toLowerCase().includes(query) || o.value.toLowerCase() === query)
    );
    for (const option of matches.slice(0, 8)) {
      const item = document.createElement("li");
      const choose = document.createElement("button");
      choose.type = "button";
      choose.className = "btn-link";
      choose.setAttribute("role", "option");
      choose.dataset.country = option.value;
      choose.textContent = option.textContent;
      choose.addEventListener("click", () => {
        option.selected = true;
        search.value = "";
        renderChips();
        renderResults();
        search.focus();
      });
      item.append(choose);
      results.append(item);
    }
  }

  search.addEventListener("input", renderResults);
  search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault(); // Enter picks the first match instead of submitting the form
    const first = results.querySelector("button");
    if (first) first.click();
  });
  select.hidden = true;
  select.after(picker);
  picker.append(chips, search, results);
  renderChips();
}

document.querySelectorAll("select[multiple][data-country-picker]").forEach(countryPicker);

// A page showing work in progress (a background import) reloads itself until it ends:
// <section data-refresh-seconds="2">.
const refreshing = document.querySelector("[data-refresh-seconds]");
if (refreshing) {
  setTimeout(() => window.location.reload(), 1000 * Number(refreshing.dataset.refreshSeconds));
}
