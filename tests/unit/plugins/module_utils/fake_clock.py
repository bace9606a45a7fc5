"""A monotonic clock for the code under test that moves only when that code sleeps (or a test moves ``now``)."""


class FakeClock:

    def __init__(self, start=0.0):
        self.now = start
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
