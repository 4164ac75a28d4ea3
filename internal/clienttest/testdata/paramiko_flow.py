"""paramiko_flow drives Debian's paramiko (python3-paramiko) with its
default calls: SFTPClient.put (which stats the file after the upload),
get, rename, utime, listdir, stat. It reads one operation a line from
standard input (fields separated by tabs) and stops at the first failure
with "ERROR: OP: message" and exit status 1.

Environment: PIER_HOST, PIER_PORT, PIER_USER, PIER_PASSWORD or PIER_KEY
(a private key file), PIER_KNOWN_HOSTS (the server's host keys).
"""
import os
import sys

import paramiko


def main():
    env = os.environ
    client = paramiko.SSHClient()
    client.load_host_keys(env["PIER_KNOWN_HOSTS"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    op = "connect"
    try:
        client.connect(env["PIER_HOST"], port=int(env["PIER_PORT"]), username=env["PIER_USER"],
                       password=env.get("PIER_PASSWORD"), key_filename=env.get("PIER_KEY"),
                       allow_agent=False, look_for_keys=False, timeout=15)
        sftp = client.open_sftp()
        for line in sys.stdin.read().splitlines():
            if not line:
                continue
            f = line.split("\t")
            op = f[0]
            if op == "put":
                sftp.put(f[1], f[2])
            elif op == "get":
                sftp.get(f[1], f[2])
            elif op == "rename":
                sftp.rename(f[1], f[2])
            elif op == "posix-rename":
                sftp.posix_rename(f[1], f[2])
            elif op == "mtime":
                sftp.utime(f[1], (int(f[2]), int(f[2])))
            elif op == "rm":
                sftp.remove(f[1])
            elif op == "mkdir":
                sftp.mkdir(f[1])
            elif op == "stat":
                a = sftp.stat(f[1])
                print("stat %s size=%d mtime=%d" % (f[1], a.st_size, a.st_mtime))
            elif op == "ls":
                for name in sftp.listdir(f[1]):
                    print("ls " + name)
            else:
                raise ValueError("unknown operation " + op)
            print("ok " + op)
        client.close()
    except Exception as e:  # every failure is the client's answer to report
        print("ERROR: %s: %s: %s" % (op, type(e).__name__, e))
        sys.exit(1)


main()
