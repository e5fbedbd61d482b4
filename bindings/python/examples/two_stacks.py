"""Two sanstcp stacks in one process: handshake, a 100 kB transfer and a close, in virtual time."""
from sanstcp import Stack
a = Stack(secret=b"A" * 16, seed=1, addresses=["10.0.0.1"], msl=1.0)  # TIME-WAIT: 2 s
b = Stack(secret=b"B" * 16, seed=2, addresses=["10.0.0.2"])
listener = b.listen(("10.0.0.2", 80))
client = a.connect(0.0, ("10.0.0.2", 80))
data, received, server, done, now = bytes(range(256)) * 400, bytearray(), None, False, 0.0
while a.connection_count() + b.connection_count() and now < 100:
    moved = True
    while moved:  # carry packets both ways until both stacks are quiet
        out_a, out_b = a.packets_to_send(now), b.packets_to_send(now)
        for p in out_a:
            b.handle_packet(now, p)
        for p in out_b:
            a.handle_packet(now, p)
        moved = bool(out_a or out_b)
    server = server or b.accept(listener)
    if data:
        data = data[a.send(client, data):]
        if not data:
            a.close(client)  # FIN follows the queued data; the stack finishes the close
    while server and not done and (chunk := b.recv(server)) is not None:
        received += chunk
        done = chunk == b""  # end of stream: close our side too
        if done:
            b.close(server)
    now = min(t for t in (a.poll_timeout(), b.poll_timeout(), now + 0.01) if t is not None)
    a.handle_timeout(now), b.handle_timeout(now), a.events(), b.events()
print(f"{len(received)} bytes, intact: {received == bytes(range(256)) * 400}, closed at {now:.3f} s")
