// JschFlow drives Debian's JSch (0.1.54) the way integration suites embed
// it: a session with strict host key checking against a known_hosts file,
// password or RSA key, and ChannelSftp's default calls. It reads one
// operation a line from standard input (fields separated by tabs) and
// stops at the first failure with "ERROR: OP: message" and exit status 1.
//
// Environment: PIER_HOST, PIER_PORT, PIER_USER, PIER_PASSWORD or PIER_KEY
// (a PEM private key), PIER_KNOWN_HOSTS.
import com.jcraft.jsch.*;
import java.io.*;
import java.util.*;

public class JschFlow {
    public static void main(String[] args) throws Exception {
        Map<String, String> env = System.getenv();
        JSch jsch = new JSch();
        jsch.setKnownHosts(env.get("PIER_KNOWN_HOSTS"));
        if (env.get("PIER_KEY") != null) {
            jsch.addIdentity(env.get("PIER_KEY"));
        }
        Session session = null;
        ChannelSftp sftp = null;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        String line = null;
        try {
            session = jsch.getSession(env.get("PIER_USER"), env.get("PIER_HOST"), Integer.parseInt(env.get("PIER_PORT")));
            session.setConfig("StrictHostKeyChecking", "yes");
            if (env.get("PIER_PASSWORD") != null) {
                session.setPassword(env.get("PIER_PASSWORD"));
            }
            session.connect(15000);
            sftp = (ChannelSftp) session.openChannel("sftp");
            sftp.connect(15000);
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) continue;
                String[] f = line.split("\t");
                switch (f[0]) {
                case "put": sftp.put(f[1], f[2]); break;
                case "get": sftp.get(f[1], f[2]); break;
                case "rename": sftp.rename(f[1], f[2]); break;
                case "mtime": sftp.setMtime(f[1], Integer.parseInt(f[2])); break;
                case "rm": sftp.rm(f[1]); break;
                case "mkdir": sftp.mkdir(f[1]); break;
                case "stat": {
                    SftpATTRS a = sftp.stat(f[1]);
                    System.out.println("stat " + f[1] + " size=" + a.getSize() + " mtime=" + a.getMTime());
                    break;
                }
                case "ls": {
                    for (Object o : sftp.ls(f[1])) {
                        String name = ((ChannelSftp.LsEntry) o).getFilename();
                        if (!name.equals(".") && !name.equals("..")) System.out.println("ls " + name);
                    }
                    break;
                }
                default: throw new IllegalArgumentException("unknown operation " + f[0]);
                }
                System.out.println("ok " + f[0]);
            }
        } catch (Exception e) {
            String op = line == null ? "connect" : line.split("\t")[0];
            System.out.println("ERROR: " + op + ": " + e);
            System.exit(1);
        } finally {
            if (sftp != null) sftp.disconnect();
            if (session != null) session.disconnect();
        }
    }
}
