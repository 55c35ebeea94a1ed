"""A real SMTP server for the email tests (aiosmtpd).

Usage: smtp_server.py PORT DIR
Each accepted message is written to DIR/NNN.eml. Behaviour is read from DIR/mode before
every message, so a test can change it while the server runs:
  accept       250 at once (default)
  delay:SECS   wait SECS seconds, then 250 (a slow server)
  hold         keep the message unanswered until the mode changes, then answer as the new
               mode says (a test decides when the server accepts)
  refuse       554 (a server refusing mail)
A message whose client vanished while it waited is not stored: it was never accepted.
What happens to each message is appended to DIR/events, one line each, so tests can wait for
it: "held N" (message N is being held), "dropped N" (its client vanished while it waited),
"accepted N" (stored, then answered 250), "refused N".
"""
import asyncio
import os
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.received = 0
        self.count = 0

    def mode(self):
        try:
            with open(os.path.join(self.directory, "mode")) as f:
                return f.read().strip() or "accept"
        except FileNotFoundError:
            return "accept"

    def event(self, what, n):
        with open(os.path.join(self.directory, "events"), "a") as f:
            f.write("%s %d\n" % (what, n))

    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        n = self.received
        try:
            mode = self.mode()
            if mode == "hold":
                self.event("held", n)
                while mode == "hold":
                    await asyncio.sleep(0.02)
                    mode = self.mode()
            if mode == "refuse":
                self.event("refused", n)
                return "554 5.7.1 Refused by test server"
            if mode.startswith("delay:"):
                await asyncio.sleep(float(mode.split(":", 1)[1]))
        except asyncio.CancelledError:
            # aiosmtpd cancels the handler when the client's connection is lost.
            self.event("dropped", n)
            raise
        if server.transport is None or server.transport.is_closing():
            self.event("dropped", n)
            return "421 client gone"
        self.count += 1
        path = os.path.join(self.directory, "%03d.eml" % self.count)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        self.event("accepted", n)
        return "250 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)
    controller = Controller(Handler(directory), hostname="127.0.0.1", port=port)
    controller.start()
    with open(os.path.join(directory, "ready"), "w") as f:
        f.write("ready")
    try:
        # Bounded life: a test that forgets to stop it does not leave it running for long.
        asyncio.run(asyncio.sleep(600))
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
