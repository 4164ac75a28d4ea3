// Package clienttest holds pier's client-compatibility suite: the clients
// partners and staff run (paramiko, JSch, ssh2-sftp-client, OpenSSH sftp
// and scp, curl, lftp, rclone over SFTP and WebDAV, the npm webdav client)
// each run the three flows of the product brief against running servers —
// a partner's drop into a drop box (with and without a temporary name,
// with a modification time), a partner's fetch from outbound, and staff
// reading, writing and renaming — on SQLite with local disk and on
// PostgreSQL with MinIO. Each must exit 0 where the action is allowed and
// report a clear error where it is refused. The suite writes the table of
// clients and flows the README shows, and checks the README against it.
//
// scripts/test installs every client: Debian packages with apt-get, the
// npm ones with npm ci from testdata/npm into a cache.
package clienttest
