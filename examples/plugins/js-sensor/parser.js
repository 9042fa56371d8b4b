// A sluice parser plugin in JavaScript: binary sensor frames to time-series points.
//
// Frame layout (big-endian):
//   u8  magic 0x53 ('S')      u8  version (1)
//   u64 timestamp in ms       u8  device-id length, then the device id (UTF-8)
//   u8  field count, then per field:
//       u8 name length, name (UTF-8), u8 type (1 = f64, 2 = i64, 3 = bool), value (8, 8 or 1 bytes)
//
// Settings: `sensor.measurement` (default `sensor`); the record key, when present, becomes
// the `site` tag.
import { log } from 'sluice:plugin/log@0.2.0';

let measurement = null;
const decoder = new TextDecoder('utf-8', { fatal: true });

function failure(code, message, field) {
  return { code, message, field };
}

class Frame {
  constructor(bytes) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.bytes = bytes;
    this.at = 0;
  }
  need(n, field) {
    if (this.at + n > this.bytes.length) {
      throw failure('truncated-frame', `frame ends at byte ${this.bytes.length} while reading ${field}`, field);
    }
  }
  u8(field) { this.need(1, field); return this.view.getUint8(this.at++); }
  u64(field) { this.need(8, field); const v = this.view.getBigUint64(this.at); this.at += 8; return v; }
  i64(field) { this.need(8, field); const v = this.view.getBigInt64(this.at); this.at += 8; return v; }
  f64(field) { this.need(8, field); const v = this.view.getFloat64(this.at); this.at += 8; return v; }
  text(field) {
    const length = this.u8(field);
    this.need(length, field);
    const slice = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    try { return decoder.decode(slice); } catch { throw failure('invalid-utf8', `${field} is not UTF-8`, field); }
  }
}

function parseFrame(record) {
  if (record.value === undefined || record.value === null) return [];
  const frame = new Frame(record.value);
  if (frame.u8('magic') !== 0x53) throw failure('bad-magic', 'frame does not start with 0x53', 'magic');
  const version = frame.u8('version');
  if (version !== 1) throw failure('unsupported-version', `frame version ${version} is not supported (expected 1)`, 'version');
  const timeMs = frame.u64('timestamp');
  const device = frame.text('device');
  const count = frame.u8('fields');
  const fields = [];
  for (let i = 0; i < count; i++) {
    const name = frame.text(`fields[${i}].name`);
    const type = frame.u8(name);
    let value;
    if (type === 1) value = { tag: 'float64', val: frame.f64(name) };
    else if (type === 2) value = { tag: 'int64', val: frame.i64(name) };
    else if (type === 3) value = { tag: 'boolean', val: frame.u8(name) !== 0 };
    else throw failure('bad-field-type', `field ${name} has unknown type ${type}`, name);
    fields.push({ name, value });
  }
  if (frame.at !== record.value.length) {
    throw failure('trailing-bytes', `${record.value.length - frame.at} bytes after the last field`, 'value');
  }
  const tags = record.key ? [['site', decoder.decode(record.key)]] : [];
  return [{ tag: 'point', val: { table: undefined, measurement, dataSource: device, tags, timeUs: timeMs * 1000n, fields } }];
}

export const parsing = {
  configure(settings) {
    const map = new Map(settings);
    measurement = map.get('sensor.measurement') ?? 'sensor';
    if (measurement.includes('#')) {
      throw { payload: failure('bad-setting', 'sensor.measurement may not contain `#`', 'sensor.measurement') };
    }
    log('info', `sensor parser configured; measurement ${measurement}`);
  },
  parse(batch) {
    return batch.map((record) => {
      try {
        return { tag: 'ok', val: parseFrame(record) };
      } catch (error) {
        if (error && typeof error.code === 'string') return { tag: 'err', val: error };
        return { tag: 'err', val: failure('parser-bug', String(error), undefined) };
      }
    });
  },
};
