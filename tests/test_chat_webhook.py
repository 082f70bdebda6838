import socket
import threading

from classifier.chat.webhook import WebhookSender


def _garbage_server() -> tuple[socket.socket, int]:
    """A server on 127.0.0.1 that answers every request with a line that is not HTTP."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"GARBAGE\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_a_malformed_http_answer_counts_as_a_failure_and_the_sender_keeps_going():
    server, port = _garbage_server()
    try:
        sender = WebhookSender(f"http://127.0.0.1:{port}/hook", "secret", attempts=2, backoff_base=0.01)
        sender.start()
        assert sender.submit({"event": "message.flagged", "message_id": "a"})
        assert sender.submit({"event": "message.flagged", "message_id": "b"})
        sender.close(timeout=10)
    finally:
        server.close()
    assert (sender.delivered, sender.failed) == (0, 2)
