// Uploads from the models page, straight to storage: for each file, start a multipart upload,
// ask for presigned part URLs in batches, PUT the parts there a few at a time (with progress),
// then complete the upload. On any error the upload is aborted and the API's sentence shown.
// The bytes never pass through a Django form.
(function () {
  const config = document.currentScript.dataset;
  const api = `/tenants/${encodeURIComponent(config.tenant)}/upload/`;
  const preferredPartBytes = Number(config.partBytes);
  const minPartBytes = Number(config.minPartBytes);
  const maxPartBytes = Number(config.maxPartBytes);
  const maxParts = Number(config.maxParts);
  // URLs asked for at a time (the API gives up to 1000): few enough that none expires unused.
  const PRESIGN_BATCH = 50;
  const PARALLEL_PARTS = 3;

  const form = document.getElementById("upload-form");
  const button = form.querySelector("button[type=submit]");
  const nameInput = form.elements.modelName;
  const versionInput = form.elements.modelVersion;
  const overall = document.getElementById("upload-overall");
  const summary = document.getElementById("upload-summary");
  const fileList = document.getElementById("upload-files");
  const messageList = document.getElementById("upload-messages");
  const nextVersions = JSON.parse(document.getElementById("next-versions").textContent);
  const csrfToken = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  let busy = false;

  class UploadError extends Error {}

  nameInput.addEventListener("input", () => {
    versionInput.value = nextVersions[nameInput.value.trim()] || 1;
  });
  window.addEventListener("beforeunload", (event) => {
    if (busy) event.preventDefault();
  });

  // As Django's filesizeformat writes sizes, so the list and the progress agree.
  function formatBytes(bytes) {
    const units = ["KB", "MB", "GB", "TB", "PB"];
    if (bytes < 1024) return `${bytes} byte${bytes === 1 ? "" : "s"}`;
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value.toFixed(1)} ${units[unit]}`;
  }

  function say(kind, text) {
    const item = document.createElement("li");
    item.className = `message ${kind}`;
    item.textContent = text;
    messageList.append(item);
  }

  // The sentence of an error answer: the API's envelope, S3's XML, or the status.
  function sentenceOf(status, text) {
    try {
      const message = JSON.parse(text).error.message;
      if (message) return message;
    } catch (_) {
      const s3 = /<Message>([^<]*)<\/Message>/.exec(text || "");
      if (s3) return `Storage refused a part: ${s3[1]}`;
    }
    return `The server answered ${status}; try again, or upload with the CLI.`;
  }

  async function call(step, body) {
    let response;
    try {
      response = await fetch(api + step, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrfToken,
        },
        body: JSON.stringify(body),
      });
    } catch (_) {
      throw new UploadError("The portal could not be reached; check the connection and try again.");
    }
    const text = await response.text();
    if (!response.ok) throw new UploadError(sentenceOf(response.status, text));
    return JSON.parse(text);
  }

  function putPart(url, blob, onProgress, active) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      active.add(xhr);
      xhr.open("PUT", url);
      xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => {
        active.delete(xhr);
        if (xhr.status < 200 || xhr.status >= 300) {
          reject(new UploadError(sentenceOf(xhr.status, xhr.responseText)));
          return;
        }
        const etag = xhr.getResponseHeader("ETag");
        if (!etag) {
          reject(new UploadError("Storage took a part but did not give its ETag; on S3 the bucket's CORS rules must expose the ETag header."));
          return;
        }
        resolve(etag);
      };
      xhr.onerror = () => {
        active.delete(xhr);
        reject(new UploadError("A part could not be sent to storage; check the connection and try again."));
      };
      xhr.onabort = () => {
        active.delete(xhr);
        reject(new UploadError("The upload was stopped."));
      };
      xhr.send(blob);
    });
  }

  // Parts of the preferred size, bigger when a file would otherwise need more parts than storage
  // allows; all but the last at least the minimum.
  function partBytesFor(file) {
    const bytes = Math.max(preferredPartBytes, minPartBytes, Math.ceil(file.size / maxParts));
    if (bytes > maxPartBytes) {
      throw new UploadError(`${file.name} is ${formatBytes(file.size)}, more than storage takes in one file.`);
    }
    return bytes;
  }

  // Upload one file; `report(bytes)` is called with how much of it has been sent so far.
  async function uploadFile(file, target, report) {
    const partBytes = partBytesFor(file);
    const count = Math.max(1, Math.ceil(file.size / partBytes));
    const ids = { modelName: target.modelName, modelVersion: target.modelVersion, fileName: file.name };
    const { uploadId } = await call("start", { ...ids, overwrite: target.overwrite });
    const upload = { ...ids, uploadId };
    const sent = new Array(count + 1).fill(0);
    const etags = new Array(count + 1);
    const active = new Set();
    const batches = new Map();
    let next = 1;
    let stopped = false;

    function urlOf(number) {
      const batch = Math.floor((number - 1) / PRESIGN_BATCH);
      if (!batches.has(batch)) {
        const first = batch * PRESIGN_BATCH + 1;
        const last = Math.min(first + PRESIGN_BATCH - 1, count);
        const partNumbers = Array.from({ length: last - first + 1 }, (_, i) => first + i);
        const urls = call("presign", { ...upload, partNumbers, fileSize: file.size }).then(
          (answer) => new Map(answer.data.urls.map((item) => [item.PartNumber, item.url])),
        );
        batches.set(batch, urls);
      }
      return batches.get(batch).then((urls) => urls.get(number));
    }

    function progress(number, bytes) {
      sent[number] = bytes;
      report(sent.reduce((a, b) => a + b, 0));
    }

    async function sendParts() {
      while (next <= count && !stopped) {
        const number = next++;
        const start = (number - 1) * partBytes;
        const blob = file.slice(start, Math.min(start + partBytes, file.size));
        const url = await urlOf(number);
        if (stopped) return;
        etags[number] = await putPart(url, blob, (bytes) => progress(number, bytes), active);
        progress(number, blob.size);
      }
    }

    try {
      const senders = Array.from({ length: Math.min(PARALLEL_PARTS, count) }, sendParts);
      await Promise.all(senders);
      const parts = etags.slice(1).map((ETag, i) => ({ PartNumber: i + 1, ETag }));
      return await call("done", { ...upload, parts });
    } catch (error) {
      stopped = true;
      for (const xhr of active) xhr.abort();
      // If this fails too, the platform's reaper aborts the upload later.
      await call("abort", upload).catch(() => {});
      throw error;
    }
  }

  function fileRow(file) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    const percent = document.createElement("span");
    percent.className = "muted";
    percent.textContent = "waiting";
    item.append(name, bar, percent);
    fileList.append(item);
    return {
      show(bytes) {
        bar.value = bytes;
        percent.textContent = `${file.size ? Math.floor((bytes * 100) / file.size) : 100}%`;
      },
      fail() {
        percent.textContent = "failed";
      },
    };
  }

  function refreshList() {
    htmx.ajax("GET", config.listUrl + window.location.search, {
      target: "#model-list",
      swap: "outerHTML",
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(form.elements.files.files);
    if (!files.length || busy) return;
    const target = {
      modelName: nameInput.value.trim(),
      modelVersion: versionInput.value.trim(),
      overwrite: form.elements.overwrite.checked,
    };
    const total = files.reduce((sum, file) => sum + file.size, 0);
    const began = performance.now();
    let finished = 0; // bytes of the files already uploaded
    messageList.replaceChildren();
    fileList.replaceChildren();
    const rows = files.map(fileRow);
    overall.hidden = false;
    overall.max = Math.max(total, 1);
    overall.value = 0;

    function showOverall(bytes) {
      const seconds = (performance.now() - began) / 1000;
      const percent = total ? Math.floor((bytes * 100) / total) : 100;
      const speed = seconds > 0 ? ` · ${formatBytes(Math.round(bytes / seconds))}/s` : "";
      overall.value = total ? bytes : 1;
      summary.textContent = `${formatBytes(bytes)} of ${formatBytes(total)} (${percent}%)${speed}`;
    }

    busy = true;
    button.disabled = true;
    showOverall(0);
    try {
      for (const [index, file] of files.entries()) {
        try {
          await uploadFile(file, target, (bytes) => {
            rows[index].show(bytes);
            showOverall(finished + bytes);
          });
        } catch (error) {
          rows[index].fail();
          throw new UploadError(`${file.name}: ${error.message}`);
        }
        rows[index].show(file.size);
        finished += file.size;
        showOverall(finished);
      }
      const count = files.length === 1 ? "1 file" : `${files.length} files`;
      say("success", `Uploaded ${count} to version ${target.modelVersion} of ${target.modelName}.`);
      const following = Number(target.modelVersion) + 1;
      nextVersions[target.modelName] = Math.max(nextVersions[target.modelName] || 1, following);
    } catch (error) {
      say("error", error instanceof UploadError ? error.message : `The upload failed: ${error}`);
    } finally {
      busy = false;
      button.disabled = false;
      refreshList(); // files uploaded before an error are in the version too
    }
  });
})();
