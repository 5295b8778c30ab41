// A helper of the page's worker for one big delimited file (split.js): it opens the file as the
// merging worker did, rebuilding the plan from its head, and reads the chunks it is given, each
// sent back as bytes with its buffer transferred. Messages in: {open: {module, file, options}}
// first (module: the compiled wasm core), then {chunk: k} any number of times; out: {chunk,
// bytes, memory} per chunk, or {chunk, error} (the merging worker then reads this helper's
// chunks itself). The merging worker terminates it when the file is done.
import init, { SplitReader } from './pkg/webeval.js';
import { chunks } from './split.js';

let opened = null;

self.onmessage = async ({ data }) => {
  if (data.open) {
    const { module, file, options } = data.open;
    opened = init({ module_or_path: module }).then((exports) => {
      const reader = SplitReader.open(file.name, chunks(file), options, file.size);
      if (!reader) throw new Error(`${file.name}: not read in parts here`);
      return { reader, exports };
    });
    opened.catch((err) => self.postMessage({ error: String(err?.message ?? err) }));
    return;
  }
  try {
    const { reader, exports } = await opened;
    const bytes = reader.readChunk(data.chunk);
    self.postMessage({ chunk: data.chunk, bytes, memory: exports.memory.buffer.byteLength }, [bytes.buffer]);
  } catch (err) {
    self.postMessage({ chunk: data.chunk, error: String(err?.message ?? err) });
  }
};
