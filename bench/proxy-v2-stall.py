#!/usr/bin/env python3
# CPU a running proxy spends while N peers each send the first 5 bytes of a PROXY v2
# signature and stall, reopened as the proxy closes them, for SECS seconds (loopback only;
# bounded by SECS). Usage: proxy-v2-stall.py PROXY_PORT PROXY_PID N SECS
import socket, sys, time, os
port, pid, n, secs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
SIG = b"\r\n\r\n\x00"
def ticks():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
socks = []
t0 = ticks(); start = time.time()
while time.time() - start < secs:
    while len(socks) < n:
        s = socket.socket(); s.setblocking(True)
        try:
            s.connect(("127.0.0.1", port)); s.sendall(SIG); s.setblocking(False); socks.append(s)
        except OSError:
            s.close(); break
    time.sleep(0.05)
    alive = []
    for s in socks:
        try:
            d = s.recv(4096)
            if d == b"": s.close(); continue
            alive.append(s)
        except BlockingIOError:
            alive.append(s)
        except OSError:
            s.close()
    socks = alive
t1 = ticks(); el = time.time() - start
hz = os.sysconf("SC_CLK_TCK")
print(f"{n} stalled partial signatures for {el:.1f}s: proxy CPU {(t1-t0)/hz/el*100:.1f}% of a core")
for s in socks: s.close()
