"""The network emulator: the scheduler with synthetic times, then the relay on loopback UDP."""

import asyncio

import pytest

from delivery.netem import LinkConfig, LinkScheduler, start_relay


def test_delay_only_keeps_order_and_adds_the_one_way_delay():
    link = LinkScheduler(LinkConfig(delay_s=0.025))
    arrivals = [link.offer(1200, t) for t in (0.0, 0.001, 0.002, 0.010)]
    assert arrivals == pytest.approx([0.025, 0.026, 0.027, 0.035])


def test_jitter_never_reorders_when_order_is_kept_and_does_otherwise():
    ordered = LinkScheduler(LinkConfig(delay_s=0.02, jitter_s=0.01, seed=3))
    times = [i * 0.001 for i in range(500)]
    got = [ordered.offer(1200, t) for t in times]
    assert got == sorted(got)
    assert all(0.0 <= a - t <= 0.03 + 1e-9 for a, t in zip(got, times, strict=True))
    free = LinkScheduler(LinkConfig(delay_s=0.02, jitter_s=0.01, keep_order=False, seed=3))
    loose = [free.offer(1200, t) for t in times]
    assert loose != sorted(loose)


def test_token_bucket_releases_at_the_configured_rate():
    rate = 125_000  # 1 Mbit/s
    link = LinkScheduler(LinkConfig(rate_bytes_s=rate, burst_bytes=3000, queue_bytes=10_000_000))
    departures = [link.offer(1250, 0.0) for _ in range(400)]  # a burst of 500 KB at once
    assert departures == sorted(departures)
    # The first datagrams ride the bucket's burst; after that one leaves every 1250/rate = 10 ms.
    assert departures[0] == 0.0 and departures[1] == 0.0
    assert departures[3] - departures[2] == pytest.approx(0.01)
    measured = (400 - 2) * 1250 / departures[-1]
    assert measured == pytest.approx(rate, rel=0.01)


def test_traffic_under_the_rate_is_not_delayed():
    link = LinkScheduler(LinkConfig(rate_bytes_s=125_000, delay_s=0.01))
    # 1250 B every 20 ms is half the rate: every datagram finds tokens.
    assert all(link.offer(1250, i * 0.02) == pytest.approx(i * 0.02 + 0.01) for i in range(100))


def test_a_full_queue_tail_drops():
    link = LinkScheduler(LinkConfig(rate_bytes_s=100_000, burst_bytes=2500, queue_bytes=25_000))
    results = [link.offer(1250, 0.0) for _ in range(100)]
    accepted = [r for r in results if r is not None]
    # The burst passes at once, then the queue holds 25 KB: 2 + 20 datagrams.
    assert len(accepted) == 22 and link.stats.overflowed == 78
    assert link.queued_bytes(0.0) == 25_000
    assert link.queued_bytes(1.0) == 0  # drained
    assert link.offer(1250, 1.0) is not None


def test_seeded_loss_drops_the_configured_share_the_same_way_every_time():
    def drops(seed: int) -> list[int]:
        link = LinkScheduler(LinkConfig(loss=0.02, seed=seed))
        return [i for i in range(20_000) if link.offer(1200, i * 1e-4) is None]

    first = drops(1)
    assert 0.017 < len(first) / 20_000 < 0.023
    assert drops(1) == first
    assert drops(2) != first


def test_path_figures_convert_to_one_direction():
    c = LinkConfig.from_path(rtt_ms=50, loss=0.01, rate_kbps=800, jitter_ms=4, seed=9)
    assert (c.delay_s, c.loss, c.rate_bytes_s, c.jitter_s, c.seed) == (0.025, 0.01, 100_000, 0.004, 9)
    assert LinkConfig.from_path().rate_bytes_s is None


@pytest.mark.parametrize("kwargs", [{"delay_s": -1}, {"loss": 1.0}, {"loss": -0.1}, {"rate_bytes_s": 0}])
def test_bad_link_figures_are_refused(kwargs):
    with pytest.raises(ValueError):
        LinkConfig(**kwargs)


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


class _Client(asyncio.DatagramProtocol):
    def __init__(self):
        self.got: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.got.put_nowait((data, asyncio.get_running_loop().time()))


def test_relay_delays_both_directions_and_drops_with_loss():
    async def main():
        loop = asyncio.get_running_loop()
        echo, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
        target = echo.get_extra_info("sockname")[:2]
        try:
            async with start_relay(target, uplink=LinkConfig(delay_s=0.03),
                                   downlink=LinkConfig(delay_s=0.03)) as relay:
                transport, client = await loop.create_datagram_endpoint(
                    _Client, remote_addr=("127.0.0.1", relay.port))
                rtts = []
                for i in range(3):
                    sent = loop.time()
                    transport.sendto(b"ping %d" % i)
                    data, at = await asyncio.wait_for(client.got.get(), 2)
                    assert data == b"ping %d" % i
                    rtts.append(at - sent)
                transport.close()
                assert relay.stats.clients == 1 and relay.stats.downlink.delivered == 3
            async with start_relay(target, uplink=LinkConfig(loss=0.5, seed=1)) as lossy:
                transport, client = await loop.create_datagram_endpoint(
                    _Client, remote_addr=("127.0.0.1", lossy.port))
                for i in range(200):
                    transport.sendto(b"x%d" % i)
                await asyncio.sleep(0.3)
                transport.close()
                return rtts, client.got.qsize(), lossy.stats
        finally:
            echo.close()

    rtts, echoed, stats = asyncio.run(main())
    assert all(0.058 <= r < 0.2 for r in rtts), rtts
    assert stats.uplink.lost + stats.uplink.delivered == 200
    assert echoed == stats.uplink.delivered and 60 < echoed < 140
