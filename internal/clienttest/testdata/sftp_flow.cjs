// sftp_flow drives the npm ssh2-sftp-client with its default calls: put,
// get, rename, exists, stat, list, and ssh2's utimes for the time. It reads
// one operation a line from standard input (fields separated by tabs) and
// stops at the first failure with "ERROR: OP: message" and exit status 1.
//
// Environment: PIER_HOST, PIER_PORT, PIER_USER, PIER_PASSWORD or PIER_KEY
// (a private key file), PIER_HOSTKEY_SHA256 (the host keys' SHA-256
// fingerprints, base64, comma-separated).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const Client = require('ssh2-sftp-client');

async function main() {
  const env = process.env;
  const pins = (env.PIER_HOSTKEY_SHA256 || '').split(',');
  const sftp = new Client();
  const lines = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l !== '');
  let op = 'connect';
  try {
    await sftp.connect({
      host: env.PIER_HOST, port: Number(env.PIER_PORT), username: env.PIER_USER,
      password: env.PIER_PASSWORD, privateKey: env.PIER_KEY ? fs.readFileSync(env.PIER_KEY) : undefined,
      readyTimeout: 15000,
      hostVerifier: (key) => pins.includes(crypto.createHash('sha256').update(key).digest('base64').replace(/=+$/, '')),
    });
    for (const line of lines) {
      const f = line.split('\t');
      op = f[0];
      switch (op) {
        case 'put': await sftp.put(f[1], f[2]); break;
        case 'fastput': await sftp.fastPut(f[1], f[2]); break;
        case 'get': await sftp.get(f[1], f[2]); break;
        case 'rename': await sftp.rename(f[1], f[2]); break;
        case 'posix-rename': await sftp.posixRename(f[1], f[2]); break;
        case 'rm': await sftp.delete(f[1]); break;
        case 'mkdir': await sftp.mkdir(f[1]); break;
        case 'mtime': {
          const t = Number(f[2]);
          await new Promise((resolve, reject) => sftp.sftp.utimes(f[1], t, t, (err) => (err ? reject(err) : resolve())));
          break;
        }
        case 'exists': {
          const kind = await sftp.exists(f[1]);
          if (!kind) throw new Error(f[1] + ' does not exist');
          console.log('exists ' + f[1] + ' ' + kind);
          break;
        }
        case 'stat': {
          const a = await sftp.stat(f[1]);
          console.log('stat ' + f[1] + ' size=' + a.size + ' mtime=' + Math.floor(a.modifyTime / 1000));
          break;
        }
        case 'ls':
          for (const e of await sftp.list(f[1])) console.log('ls ' + e.name);
          break;
        default: throw new Error('unknown operation ' + op);
      }
      console.log('ok ' + op);
    }
    await sftp.end();
  } catch (e) {
    console.log('ERROR: ' + op + ': ' + (e && e.message ? e.message : e));
    process.exit(1);
  }
}

main();
