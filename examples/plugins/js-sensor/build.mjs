// Builds sensor_parser.wasm from parser.js against the sluice contract in ../../../wit.
// Usage: npm install && npm run build
import { componentize } from '@bytecodealliance/componentize-js';
import { readFile, writeFile } from 'node:fs/promises';

const { component } = await componentize(await readFile('parser.js', 'utf8'), {
  witPath: new URL('../../../wit', import.meta.url).pathname,
  worldName: 'parser',
  // A parser needs none of these; leaving them out keeps the component free of WASI imports.
  disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
});
await writeFile('sensor_parser.wasm', component);
console.log(`built sensor_parser.wasm (${component.byteLength} bytes)`);
