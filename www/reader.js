// A helper of the page's worker for one big delimited file (split.js): it opens the file as the
// merging worker did, rebuilding the plan from its head, and reads the chunks it is given in
// turn, each sent back as bytes with its buffer transferred; the next chunk's bytes are fetched
// while one is read. Past the score budget it also bins one lane of the sketches: the pieces of
// rows it is sent, in order, before any chunk. Messages in: {open: {module, file, options}}
// first (module: the compiled wasm core), then any of {chunk: k}, {piece: bytes} and {lane:
// true} (send the lane back, every piece before it binned); out: {chunk, bytes, memory} per
// chunk, {laneState, memory}, or {chunk, error} / {error} (the merging worker then reads this
// helper's chunks itself, or fails if it held a lane). The merging worker terminates it when
// the file is done.
import init, { SplitRead } from './pkg/webeval.js';
import { chunkReads, pause } from './split.js';

let opened = null;
const queue = [];
const lane = []; // the lane's messages, in order: they go before chunks (what they hold is freed)
let running = false;

async function work() {
  if (running) return;
  running = true;
  try {
    while (queue.length || lane.length) {
      if (lane.length) {
        const msg = lane.shift();
        try {
          const { reader, exports } = await opened;
          if (msg.piece) {
            reader.binPiece(msg.piece);
          } else {
            const laneState = reader.laneState();
            self.postMessage({ laneState, memory: exports.memory.buffer.byteLength }, [laneState.buffer]);
          }
        } catch (err) {
          self.postMessage({ error: String(err?.message ?? err) });
          return;
        }
        continue;
      }
      const k = queue.shift();
      try {
        const { reader, reads, exports } = await opened;
        reads.fetch(k);
        if (queue.length) reads.fetch(queue[0]);
        await reads.ready(k);
        const bytes = reader.chunkState(k);
        reads.drop(k);
        self.postMessage({ chunk: k, bytes, memory: exports.memory.buffer.byteLength }, [bytes.buffer]);
      } catch (err) {
        self.postMessage({ chunk: k, error: String(err?.message ?? err) });
      }
      await pause(); // the chunks and pieces sent meanwhile join the queues
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
  if (data.chunk !== undefined) queue.push(data.chunk);
  else lane.push(data);
  work();
};
