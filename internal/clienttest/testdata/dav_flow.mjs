// dav_flow drives the npm webdav client with its default calls:
// putFileContents, getFileContents, moveFile, stat, exists,
// getDirectoryContents, lock and unlock. It reads one operation a line
// from standard input (fields separated by tabs) and stops at the first
// failure with "ERROR: OP: message" and exit status 1.
//
// Environment: PIER_URL (https://HOST:PORT/dav), PIER_USER, PIER_PASSWORD,
// PIER_CA (the server's certificate, PEM, trusted for this connection).
import fs from 'node:fs';
import https from 'node:https';
import { createClient } from 'webdav';

const env = process.env;
const client = createClient(env.PIER_URL, {
  username: env.PIER_USER,
  password: env.PIER_PASSWORD,
  httpsAgent: new https.Agent({ ca: fs.readFileSync(env.PIER_CA) }),
});
const lines = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l !== '');
let op = 'start';
const locks = {};
try {
  for (const line of lines) {
    const f = line.split('\t');
    op = f[0];
    switch (op) {
      case 'put': {
        const ok = await client.putFileContents(f[2], fs.readFileSync(f[1]));
        if (ok === false) throw new Error('not written: ' + f[2] + ' exists');
        break;
      }
      case 'get': fs.writeFileSync(f[2], await client.getFileContents(f[1])); break;
      case 'rename': await client.moveFile(f[1], f[2]); break;
      case 'rm': await client.deleteFile(f[1]); break;
      case 'mkdir': await client.createDirectory(f[1]); break;
      case 'exists':
        if (!(await client.exists(f[1]))) throw new Error(f[1] + ' does not exist');
        break;
      case 'stat': {
        const s = await client.stat(f[1]);
        console.log('stat ' + f[1] + ' size=' + s.size + ' mtime=' + Math.floor(Date.parse(s.lastmod) / 1000));
        break;
      }
      case 'ls':
        for (const e of await client.getDirectoryContents(f[1])) console.log('ls ' + e.basename);
        break;
      case 'lock': locks[f[1]] = await client.lock(f[1]); break;
      case 'unlock': await client.unlock(f[1], locks[f[1]].token); break;
      default: throw new Error('unknown operation ' + op);
    }
    console.log('ok ' + op);
  }
} catch (e) {
  const status = e && e.status ? ' (HTTP ' + e.status + ')' : '';
  console.log('ERROR: ' + op + ': ' + (e && e.message ? e.message : e) + status);
  process.exit(1);
}
