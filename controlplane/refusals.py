"""What the SDK endpoints' services raise for input they refuse: a message for the answer's
`error` and the HTTP status it goes out with."""


class Refused(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status
