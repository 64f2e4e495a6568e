#!/usr/bin/python3
"""End-to-end check of pam_twofa.so in a real sshd (used by Tests/TwofaCLITests/PAMTests.swift).

Starts /usr/sbin/sshd on 127.0.0.1 (a free port, its own config and host key) in a private mount
namespace where a folder holding only this test's PAM files is bind-mounted over /etc/pam.d, so
the machine's own PAM configuration is neither used nor touched. Makes a Unix account for the
user (removed at the end), then logs in with the OpenSSH client, answering its keyboard-
interactive prompts `Password:` and `Verification code:` through pexpect, once per code given.

Standard input: the password on line 1, then one code per line (the attempts, in order).
Standard output: one JSON object per attempt: {"code": "right"|..., "authenticated": bool,
"prompts": [...], "transcript": "..."} (the client echoes nothing at those prompts, so the
transcript holds no secret); then {"sshd_log": "..."} .
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pexpect

MARKER = "twofa-ssh-login-ok"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, seconds=15.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def attempt(port, user, password, code, label):
    """One ssh login; returns its record."""
    args = [
        "-F", "/dev/null", "-p", str(port),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "PreferredAuthentications=keyboard-interactive", "-o", "PubkeyAuthentication=no",
        "-o", "NumberOfPasswordPrompts=1", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
        f"{user}@127.0.0.1", "echo", MARKER,
    ]
    child = pexpect.spawn("/usr/bin/ssh", args, encoding="utf-8", timeout=30,
                          env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")})
    transcript = []
    prompts = []
    authenticated = False
    try:
        while True:
            i = child.expect([r"[Pp]assword: ?", r"Verification code: ?", MARKER, r"Permission denied[^\r\n]*",
                              pexpect.EOF, pexpect.TIMEOUT])
            transcript.append(child.before + (child.after if isinstance(child.after, str) else ""))
            if i == 0:
                prompts.append("Password:")
                child.sendline(password)
            elif i == 1:
                prompts.append("Verification code:")
                child.sendline(code)
            elif i == 2:
                authenticated = True
            else:
                break
    finally:
        child.close(force=True)
    return {"code": label, "authenticated": authenticated, "prompts": prompts,
            "exit": child.exitstatus, "transcript": "".join(transcript)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", required=True)
    ap.add_argument("--twofa", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--labels", required=True, help="comma-separated names of the codes, for the report")
    a = ap.parse_args()

    lines = sys.stdin.read().split("\n")
    password, codes = lines[0], [c for c in lines[1:] if c]
    labels = a.labels.split(",")

    work = a.workdir
    pamd = os.path.join(work, "pam.d")
    os.makedirs(pamd, exist_ok=True)
    with open(os.path.join(pamd, "sshd"), "w") as f:
        # pam.md's sshd recipe, plus account and session lines for a complete stack.
        f.write(f"auth required {a.module} twofa={a.twofa} db={a.db} key_file={a.key_file} debug\n"
                "account required pam_unix.so\n"
                "session required pam_unix.so\n")
    key = os.path.join(work, "host_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    port = free_port()
    config = os.path.join(work, "sshd_config")
    with open(config, "w") as f:
        f.write(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {key}
PidFile none
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication no
AuthenticationMethods keyboard-interactive
PermitRootLogin no
AuthorizedKeysFile none
StrictModes no
LoginGraceTime 60
LogLevel VERBOSE
""")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation folder

    subprocess.run(["useradd", "-M", "-d", "/", "-s", "/bin/sh", a.user], check=True)
    log_path = os.path.join(work, "sshd.log")
    sshd = None
    try:
        with open(log_path, "w") as log:
            sshd = subprocess.Popen(
                ["unshare", "-m", "--propagation", "private", "sh", "-c",
                 'mount --bind "$1" /etc/pam.d && exec /usr/sbin/sshd -D -e -f "$2"', "sh", pamd, config],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not wait_for_port(port, sshd):
            print(json.dumps({"error": "sshd did not start"}))
        else:
            for code, label in zip(codes, labels):
                print(json.dumps(attempt(port, a.user, password, code, label)), flush=True)
    finally:
        if sshd is not None:
            sshd.terminate()
            try:
                sshd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sshd.kill()
                sshd.wait()
        subprocess.run(["userdel", a.user], check=False)
        with open(log_path) as log:
            print(json.dumps({"sshd_log": log.read()[-20000:]}))


if __name__ == "__main__":
    main()
