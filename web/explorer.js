// The latent explorer: sliders over z, sampling, encoding dropped images and
// interpolating between two of them, all through the exported LiteRT signatures.
//
// Test contract (zoo/export/web.py): on load the page draws E[x|z] at z = 0 and
// label 0; `?z=v0,v1,...` and `?label=k` then move the sliders and the class picker
// as a user would (values rounded to the sliders' steps). After every draw
// #zoo-checksum holds the sum of its pixels (4 decimals) and #zoo-pixels all of
// them as JSON; once the image for the final z is drawn, <body data-zoo-ready="true">.

import {Tensor, loadAndCompile, loadLiteRt} from "@litertjs/core";

const SLIDER_RANGE = 3;  // slider values span [-3, 3]: almost all of N(0, 1)
const CLASS_NAMES = {
  fashion_mnist: ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                  "Bag", "Ankle boot"],
};

const $ = (id) => document.getElementById(id);

/** Shows `message` in place of the page's status and marks the body for tests. */
function fail(message) {
  $("zoo-status").hidden = true;
  $("zoo-message").textContent = message;
  $("zoo-message").hidden = false;
  document.body.dataset.zooError = message;
}

/** A compiled signature called with named typed arrays (batch 1), returning named typed arrays. */
async function runSignature(model, inputs, shapes) {
  const tensors = {};
  for (const [name, data] of Object.entries(inputs)) {
    tensors[name] = new Tensor(data, shapes[name]);
  }
  try {
    const outputs = await model.run(tensors);
    const arrays = {};
    for (const [name, tensor] of Object.entries(outputs)) {
      arrays[name] = tensor.toTypedArray();
      tensor.delete();  // LiteRT.js tensors live in Wasm memory until deleted
    }
    return arrays;
  } finally {
    Object.values(tensors).forEach((t) => t.delete());
  }
}

/** Standard normal noise (Box-Muller), drawn here so that sampling needs no random op in the model. */
function gaussian(n) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - Math.random()));
    const theta = 2 * Math.PI * Math.random();
    out[i] = r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

/** Draws `pixels` (NHWC floats in [0, 1]) one canvas pixel each; CSS upscales them unsmoothed. */
function draw(canvas, pixels, [height, width, channels]) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const value = pixels[p * channels + (channels === 1 ? 0 : c)];
      image.data[4 * p + c] = Math.round(255 * Math.min(1, Math.max(0, value)));
    }
    image.data[4 * p + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

/** The `?z=` values (or null) and `?label=` class (or null), checked against the model. */
function queryState(latentDim, numClasses) {
  const params = new URLSearchParams(location.search);
  let z = null;
  if (params.has("z")) {
    z = params.get("z").split(",").map(Number);
    if (z.length !== latentDim || z.some((v) => !(Math.abs(v) <= SLIDER_RANGE))) {
      throw new Error(`?z= needs ${latentDim} comma-separated numbers in [-${SLIDER_RANGE}, ${SLIDER_RANGE}], ` +
                      `got "${params.get("z")}"`);
    }
  }
  let label = null;
  if (params.has("label")) {
    label = Number(params.get("label"));
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new Error(`?label= needs a class index in [0, ${numClasses}), got "${params.get("label")}"`);
    }
  }
  return {z, label};
}

/**
 * An image file as the model's input [1, H, W, C] in [0, 1]: fitted into H x W,
 * inverted for one-channel data when its border is light (the datasets are light
 * strokes on black), and thresholded at 0.5 for binary preprocessing.
 */
async function imageToInput(file, [height, width, channels], binary) {
  const bitmap = await createImageBitmap(file);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.fillStyle = "white";
  context.fillRect(0, 0, width, height);
  const scale = Math.min(width / bitmap.width, height / bitmap.height);
  const w = bitmap.width * scale;
  const h = bitmap.height * scale;
  context.drawImage(bitmap, (width - w) / 2, (height - h) / 2, w, h);
  const rgba = context.getImageData(0, 0, width, height).data;
  const x = new Float32Array(height * width * channels);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < channels; c++) {
      x[p * channels + c] = channels === 1
        ? (0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2]) / 255
        : rgba[4 * p + c] / 255;
    }
  }
  if (channels === 1) {
    let border = 0;
    for (let i = 0; i < width; i++) border += x[i] + x[(height - 1) * width + i];
    if (border / (2 * width) > 0.5) x.forEach((v, i) => { x[i] = 1 - v; });
  }
  if (binary) x.forEach((v, i) => { x[i] = v > 0.5 ? 1 : 0; });
  return x;
}

async function main() {
  if (document.body.dataset.zooError) return;  // index.html already found it cannot run
  const meta = await (await fetch("zoo_metadata.json")).json();
  const shape = meta.input_shape;
  const latentDim = meta.latent_dim;
  const files = meta.web.files;
  const query = queryState(latentDim, meta.conditional ? meta.num_classes : 0);
  const state = {z: new Float32Array(latentDim), label: 0};

  $("title").textContent = `${meta.preset} — latent explorer`;
  $("subtitle").textContent = `${meta.model_class} on ${meta.dataset ?? "images"}, ${latentDim} latent dimensions. ` +
    "Runs in your browser with LiteRT.js; nothing is sent anywhere.";

  await loadLiteRt(new URL("litert/core/wasm/", location.href).href);
  const models = {};
  for (const [signature, file] of Object.entries(files)) {
    models[signature] = await loadAndCompile(new URL(file, location.href).href, {accelerator: "wasm"});
  }
  const shapes = (signature) => Object.fromEntries(
    Object.entries(meta.signatures[signature].inputs).map(([name, d]) => [name, d.shape]));
  const withLabel = (inputs) => meta.conditional ? {...inputs, label: Int32Array.of(state.label)} : inputs;

  // Sliders in the card's KL order, so the dimensions that matter come first.
  const sliders = new Array(latentDim);
  const byKl = meta.web.latent_order_by === "kl_per_dimension";
  const kl = byKl ? meta.metrics.latents.kl_per_dimension : null;
  $("latent-order").textContent = byKl ? "(highest KL first)" : "(in index order: the card has no KL per dimension)";
  for (const i of meta.web.latent_order) {
    const row = document.createElement("label");
    row.className = "slider";
    const name = document.createElement("span");
    name.textContent = `z${i}`;
    name.title = kl ? `KL ${kl[i].toFixed(3)} nats` : "";
    const input = Object.assign(document.createElement("input"), {
      type: "range", min: -SLIDER_RANGE, max: SLIDER_RANGE, step: 0.01, value: state.z[i]});
    input.setAttribute("aria-label", `latent dimension ${i}`);
    const value = document.createElement("output");
    input.addEventListener("input", () => {
      state.z[i] = Number(input.value);
      value.textContent = state.z[i].toFixed(2);
      render();
    });
    row.append(name, input, value);
    $("sliders").append(row);
    sliders[i] = {input, value};
  }
  const showZ = () => sliders.forEach(({input, value}, i) => {
    input.value = state.z[i];
    value.textContent = state.z[i].toFixed(2);
  });
  showZ();

  const canvas = $("image");
  function show(pixels) {
    draw(canvas, pixels, shape);
    $("zoo-checksum").textContent = pixels.reduce((a, b) => a + b, 0).toFixed(4);
    $("zoo-pixels").textContent = JSON.stringify(Array.from(pixels));
  }

  // One decode at a time; a change during a run asks for one more, with the newest z.
  // The returned promise settles once the image for the latest z is drawn.
  let drawing = null;
  let stale = false;
  function render() {
    if (drawing) {
      stale = true;
      return drawing;
    }
    drawing = (async () => {
      try {
        do {
          stale = false;
          const out = await runSignature(models.decode, withLabel({z: state.z.slice()}), shapes("decode"));
          show(out.mean);
        } while (stale);
      } catch (e) {
        fail(`Decoding failed: ${e.message}`);
      } finally {
        drawing = null;
      }
    })();
    return drawing;
  }

  if (meta.conditional) {
    const names = CLASS_NAMES[meta.dataset] ?? [];
    for (let k = 0; k < meta.num_classes; k++) {
      $("label").append(new Option(names[k] ? `${k}: ${names[k]}` : String(k), k));
    }
    $("label").value = state.label;
    $("label").addEventListener("change", () => { state.label = Number($("label").value); render(); });
    $("class-picker").hidden = false;
  }

  $("zero").addEventListener("click", () => { state.z.fill(0); showZ(); render(); });

  if (models.sample) {
    $("sample").hidden = false;
    // z = eps only for the standard normal prior; otherwise the sliders cannot show the draw.
    const epsIsZ = String(meta.prior_sampling).startsWith("z = eps");
    $("sample").addEventListener("click", async () => {
      const eps = gaussian(latentDim);
      try {
        const out = await runSignature(models.sample, withLabel({eps}), shapes("sample"));
        if (epsIsZ) { state.z.set(eps); showZ(); }
        show(out.images);
      } catch (e) {
        fail(`Sampling failed: ${e.message}`);
      }
    });
  }

  if (models.encode) {
    const binary = String(meta.preprocessing).includes("binarize");
    const codes = {};
    const mix = $("mix");
    const interpolate = () => {
      const t = Number(mix.value);
      for (let i = 0; i < latentDim; i++) state.z[i] = (1 - t) * codes.a[i] + t * codes.b[i];
      showZ();
      render();
    };
    mix.addEventListener("input", interpolate);
    for (const key of ["a", "b"]) {
      const slot = $(`slot-${key}`);
      const encodeFile = async (file) => {
        try {
          const x = await imageToInput(file, shape, binary);
          draw(slot.querySelector("canvas"), x, shape);
          const out = await runSignature(models.encode, withLabel({x}), shapes("encode"));
          codes[key] = out.mean;
          state.z.set(out.mean);  // the posterior mean: its decode is the reconstruction
          showZ();
          render();
          mix.disabled = !(codes.a && codes.b);
          mix.value = key === "a" ? 0 : 1;
        } catch (e) {
          fail(`Could not encode that image: ${e.message}`);
        }
      };
      slot.querySelector("input").addEventListener("change", (e) => {
        if (e.target.files[0]) encodeFile(e.target.files[0]);
      });
      slot.addEventListener("dragover", (e) => { e.preventDefault(); slot.classList.add("over"); });
      slot.addEventListener("dragleave", () => slot.classList.remove("over"));
      slot.addEventListener("drop", (e) => {
        e.preventDefault();
        slot.classList.remove("over");
        if (e.dataTransfer.files[0]) encodeFile(e.dataTransfer.files[0]);
      });
    }
    $("encoder").hidden = false;
  }

  await render();
  // The query goes through the same events as a drag or a pick, so it tests their wiring.
  if (query.label !== null) {
    $("label").value = query.label;
    $("label").dispatchEvent(new Event("change"));
  }
  query.z?.forEach((v, i) => {
    sliders[i].input.value = v;
    sliders[i].input.dispatchEvent(new Event("input"));
  });
  await render();
  $("zoo-status").hidden = true;
  if (!document.body.dataset.zooError) document.body.dataset.zooReady = "true";
}

main().catch((e) => fail(`This browser could not run the model: ${e.message}`));
