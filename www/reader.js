// A helper of the page's worker for one big delimited file (split.js): it opens the file as the
// merging worker did, rebuilding the plan from its head, and reads the chunks it is given in
// turn, each sent back as bytes with its buffer transferred; the next chunk's bytes are fetched
// while one is read. Messages in: {open: {module, file, options}} first (module: the compiled
// wasm core), then {chunk: k} any number of times, and {binsOnly: true} once the merge bins the
// scores (the chunks read after it keep f32 scores: SplitRead.binsOnly), and {spare: ArrayBuffer}
// (a sent chunk's buffer, back after its offer: the next chunk's bytes are written into it); out:
// {chunk, bytes, memory} per chunk, or
// {chunk, error} (the merging worker then reads this helper's chunks itself). The merging
// worker terminates it when the file is done.
import init, { SplitRead } from './pkg/webeval.js';
import { chunkReads, pause } from './split.js';

let opened = null;
const queue = [];
/** Buffers of sent chunks that the merging worker sent back: the next chunks are written into
 * them (pages already there) rather than into fresh arrays. */
const spares = [];
let running = false;

async function work() {
  if (running) return;
  running = true;
  try {
    while (queue.length) {
      const k = queue.shift();
      try {
        const { reader, reads, exports } = await opened;
        reads.fetch(k);
        if (queue.length) reads.fetch(queue[0]);
        await reads.ready(k);
        const spare = spares.pop();
        const bytes = reader.chunkState(k, spare && new Uint8Array(spare));
        reads.drop(k);
        self.postMessage({ chunk: k, bytes, memory: exports.memory.buffer.byteLength }, [bytes.buffer]);
      } catch (err) {
        self.postMessage({ chunk: k, error: String(err?.message ?? err) });
      }
      await pause(); // the chunks given meanwhile join the queue
    }
  } finally {
    running = false;
  }
}

self.onmessage = ({ data }) => {
  if (data.open) {
    const { module, file, options } = data.open;
    opened = init({ module_or_path: module }).then((exports) => {
      const reads = chunkReads(file);
      const reader = SplitRead.open(file.name, reads.read, options, file.size);
      if (!reader) throw new Error(`${file.name}: not read in parts here`);
      reads.chunkBytes = reader.chunkBytes;
      return { reader, reads, exports };
    });
    opened.catch((err) => self.postMessage({ error: String(err?.message ?? err) }));
    return;
  }
  if (data.spare) {
    if (spares.length < 2) spares.push(data.spare);
    return;
  }
  if (data.binsOnly) {
    opened.then(({ reader }) => reader.binsOnly(), () => {});
    return;
  }
  queue.push(data.chunk);
  work();
};
