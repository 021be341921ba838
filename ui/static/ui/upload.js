// Uploads from the models page, straight to storage: for each file, start a multipart upload,
// ask for presigned part URLs in batches and PUT the parts there a few at a time (with progress);
// when every file's parts are in, complete the uploads. A part that fails for a passing reason
// (the network, storage busy or failing, an expired URL) is sent again after a pause; any other
// error, or Cancel, aborts every upload started, so the version gets all the files or none.
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
  // Pauses before the second, third and fourth attempt at a part; then it has failed.
  const RETRY_DELAYS_MS = [500, 1000, 2000];

  const form = document.getElementById("upload-form");
  const button = form.querySelector("button[type=submit]");
  const cancelButton = document.getElementById("upload-cancel");
  const nameInput = form.elements.modelName;
  const versionInput = form.elements.modelVersion;
  const overall = document.getElementById("upload-overall");
  const summary = document.getElementById("upload-summary");
  const fileList = document.getElementById("upload-files");
  const messageList = document.getElementById("upload-messages");
  const nextVersions = JSON.parse(document.getElementById("next-versions").textContent);
  const csrfToken = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  let running = null; // the AbortController of the upload in progress, which Cancel aborts

  class UploadError extends Error {}
  // A part PUT that may succeed if sent again; `urlExpired` when it needs a new URL first.
  class PassingPartError extends UploadError {
    constructor(message, urlExpired = false) {
      super(message);
      this.urlExpired = urlExpired;
    }
  }
  class UploadCancelled extends Error {}

  nameInput.addEventListener("input", () => {
    versionInput.value = nextVersions[nameInput.value.trim()] || 1;
  });
  window.addEventListener("beforeunload", (event) => {
    if (running) event.preventDefault();
  });
  cancelButton.addEventListener("click", () => {
    if (running) running.abort();
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
      if (s3) return `${status >= 500 ? "Storage failed" : "Storage refused a part"}: ${s3[1]}`;
    }
    return `The server answered ${status}; try again, or upload with the CLI.`;
  }

  // S3 (and MinIO) answer a presigned URL used after its expiry with 403 "Request has expired";
  // the filesystem backend with 403 and the code link_expired.
  function urlExpired(status, text) {
    if (status !== 403) return false;
    if (/<Message>Request has expired<\/Message>/.test(text)) return true;
    try {
      return JSON.parse(text).error.code === "link_expired";
    } catch (_) {
      return false;
    }
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
    return JSON.parse(text).data;
  }

  // PUT one part to its URL; resolves to its ETag. XMLHttpRequest rather than fetch, for the
  // upload progress; `signal` aborts it.
  function putPart(url, blob, onProgress, signal) {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new UploadCancelled());
        return;
      }
      const xhr = new XMLHttpRequest();
      const stop = () => xhr.abort();
      signal.addEventListener("abort", stop);
      const settle = (outcome, value) => {
        signal.removeEventListener("abort", stop);
        outcome(value);
      };
      xhr.open("PUT", url);
      xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => {
        const { status, responseText } = xhr;
        const sentence = sentenceOf(status, responseText);
        if (status >= 500 || status === 408 || status === 429) {
          settle(reject, new PassingPartError(sentence));
        } else if (urlExpired(status, responseText)) {
          settle(reject, new PassingPartError(sentence, true));
        } else if (status < 200 || status >= 300) {
          settle(reject, new UploadError(sentence));
        } else if (!xhr.getResponseHeader("ETag")) {
          settle(reject, new UploadError("Storage took a part but did not give its ETag; on S3 the bucket's CORS rules must expose the ETag header."));
        } else {
          settle(resolve, xhr.getResponseHeader("ETag"));
        }
      };
      xhr.onerror = () => {
        settle(reject, new PassingPartError("A part could not be sent to storage; check the connection and try again."));
      };
      xhr.onabort = () => settle(reject, new UploadCancelled());
      xhr.send(blob);
    });
  }

  function pause(milliseconds, signal) {
    return new Promise((resolve, reject) => {
      const stop = () => {
        clearTimeout(timer);
        reject(new UploadCancelled());
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", stop);
        resolve();
      }, milliseconds);
      if (signal.aborted) stop();
      else signal.addEventListener("abort", stop);
    });
  }

  // Parts of the preferred size, bigger when a file would otherwise need more parts than storage
  // allows; all but the last at least the minimum.
  function partBytesFor(file) {
    const bytes = Math.max(preferredPartBytes, minPartBytes, Math.ceil(file.size / maxParts));
    if (bytes > maxPartBytes) {
      throw new UploadError(`It is ${formatBytes(file.size)}, more than storage takes in one file.`);
    }
    return bytes;
  }

  // Send all of one file's parts; returns what completing its upload takes. The upload is added
  // to `started` as soon as it exists, so that whoever catches an error can abort it.
  async function sendFile(file, target, row, started, signal) {
    const partBytes = partBytesFor(file);
    const count = Math.max(1, Math.ceil(file.size / partBytes));
    const ids = { modelName: target.modelName, modelVersion: target.modelVersion, fileName: file.name };
    const { uploadId } = await call("start", { ...ids, overwrite: target.overwrite });
    const upload = { ...ids, uploadId };
    started.push(upload);
    const sent = new Array(count + 1).fill(0);
    const etags = new Array(count + 1);
    const batches = new Map();
    let next = 1;

    function batchOf(number) {
      return Math.floor((number - 1) / PRESIGN_BATCH);
    }

    function urlOf(number) {
      const batch = batchOf(number);
      if (!batches.has(batch)) {
        const first = batch * PRESIGN_BATCH + 1;
        const last = Math.min(first + PRESIGN_BATCH - 1, count);
        const partNumbers = Array.from({ length: last - first + 1 }, (_, i) => first + i);
        const urls = call("presign", { ...upload, partNumbers, fileSize: file.size, partSize: partBytes }).then(
          (answer) => new Map(answer.urls.map((item) => [item.PartNumber, item.url])),
        );
        batches.set(batch, urls);
      }
      return batches.get(batch).then((urls) => urls.get(number));
    }

    function progress(number, bytes) {
      sent[number] = bytes;
      row.sending(sent.reduce((a, b) => a + b, 0));
    }

    async function sendPart(number) {
      const start = (number - 1) * partBytes;
      const blob = file.slice(start, Math.min(start + partBytes, file.size));
      for (let attempt = 1; ; attempt += 1) {
        try {
          const url = await urlOf(number);
          etags[number] = await putPart(url, blob, (bytes) => progress(number, bytes), signal);
          row.retried(number);
          progress(number, blob.size);
          return;
        } catch (error) {
          if (!(error instanceof PassingPartError)) throw error;
          if (attempt > RETRY_DELAYS_MS.length) {
            throw new UploadError(`Part ${number} failed ${attempt} times. ${error.message}`);
          }
          // The next attempt sends the whole part again: count its bytes from nothing.
          progress(number, 0);
          // The rest of the batch was signed at the same time: renew all of it.
          if (error.urlExpired) batches.delete(batchOf(number));
          row.retrying(number, attempt + 1);
          await pause(RETRY_DELAYS_MS[attempt - 1], signal);
        }
      }
    }

    async function sendParts() {
      while (next <= count && !signal.aborted) {
        await sendPart(next++);
      }
    }

    row.sending(0);
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, count) }, sendParts));
    if (signal.aborted) throw new UploadCancelled();
    row.sent();
    return { upload, parts: etags.slice(1).map((ETag, i) => ({ PartNumber: i + 1, ETag })) };
  }

  // A file's line in the list: its name, a progress bar and its state in words.
  function fileRow(file, onBytes) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    const state = document.createElement("span");
    state.className = "file-state muted";
    item.append(name, bar, state);
    fileList.append(item);
    const retries = new Map(); // part number → the attempt it is waiting for or making
    let bytes = 0;
    let settled = false; // done, failed or cancelled

    function show(text, kind = "muted") {
      state.textContent = text;
      state.className = `file-state ${kind}`;
    }

    function showSending() {
      const [oldest] = retries;
      if (oldest) {
        const [number, attempt] = oldest;
        show(`retrying part ${number} (attempt ${attempt})`, "warning");
      } else {
        show(`uploading ${file.size ? Math.floor((bytes * 100) / file.size) : 100}%`);
      }
    }

    show("waiting");
    return {
      get settled() {
        return settled;
      },
      sending(sentBytes) {
        bytes = sentBytes;
        bar.value = bytes;
        onBytes(bytes);
        showSending();
      },
      retrying(number, attempt) {
        retries.set(number, attempt);
        showSending();
      },
      retried(number) {
        retries.delete(number);
      },
      sent() {
        show("sent");
      },
      done() {
        settled = true;
        show("done");
      },
      failed(sentence) {
        settled = true;
        show(`failed: ${sentence}`, "error");
      },
      cancelled() {
        settled = true;
        show("cancelled");
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
    if (!files.length || running) return;
    const target = {
      modelName: nameInput.value.trim(),
      modelVersion: versionInput.value.trim(),
      overwrite: form.elements.overwrite.checked,
    };
    const total = files.reduce((sum, file) => sum + file.size, 0);
    const began = performance.now();
    let finished = 0; // bytes of the files whose parts are all sent
    messageList.replaceChildren();
    fileList.replaceChildren();
    const rows = files.map((file) => fileRow(file, (bytes) => showOverall(finished + bytes)));
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

    running = new AbortController();
    const { signal } = running;
    const started = []; // uploads started and not yet completed
    button.disabled = true;
    cancelButton.hidden = false;
    showOverall(0);
    try {
      const ready = [];
      for (const [index, file] of files.entries()) {
        try {
          ready.push(await sendFile(file, target, rows[index], started, signal));
        } catch (error) {
          if (error instanceof UploadError) rows[index].failed(error.message);
          throw error instanceof UploadError ? new UploadError(`${file.name}: ${error.message}`) : error;
        }
        finished += file.size;
      }
      // Completing takes a moment per file; stopping half-way would keep some files and not others.
      cancelButton.hidden = true;
      for (const [index, { upload, parts }] of ready.entries()) {
        try {
          await call("done", { ...upload, parts });
        } catch (error) {
          rows[index].failed(error.message);
          throw new UploadError(`${files[index].name}: ${error.message}`);
        }
        started.splice(started.indexOf(upload), 1);
        rows[index].done();
      }
      const count = files.length === 1 ? "1 file" : `${files.length} files`;
      say("success", `Uploaded ${count} to version ${target.modelVersion} of ${target.modelName}.`);
      const following = Number(target.modelVersion) + 1;
      nextVersions[target.modelName] = Math.max(nextVersions[target.modelName] || 1, following);
    } catch (error) {
      running.abort(); // stops the PUTs still going
      for (const row of rows) if (!row.settled) row.cancelled();
      // If an abort fails too, the platform's reaper aborts the upload later.
      await Promise.all(started.map((upload) => call("abort", upload).catch(() => {})));
      if (error instanceof UploadCancelled) say("warning", "Upload cancelled.");
      else say("error", error instanceof UploadError ? error.message : `The upload failed: ${error}`);
    } finally {
      running = null;
      button.disabled = false;
      cancelButton.hidden = true;
      refreshList();
    }
  });
})();
