import pytest

from cdn_sim.topology import Pop, Topology, default_topology


def test_clients_go_to_their_region_then_the_next_nearest():
    topo = default_topology()
    assert topo.route("eu").name == "eu-1"
    assert topo.route("eu", down={"eu-1"}).name == "eu-2"
    assert topo.route("eu", down={"eu-1", "eu-2"}).region == "us"  # 80 ms beats ap's 160 ms
    assert topo.route("ap", down={"ap-1", "ap-2"}).region == "us"


def test_bad_topologies_and_regions_are_refused():
    with pytest.raises(ValueError, match="unique"):
        Topology((Pop("a", "eu"), Pop("a", "us")))
    with pytest.raises(ValueError, match="unknown region"):
        default_topology().route("mars")
    topo = default_topology()
    with pytest.raises(LookupError, match="every POP"):
        topo.route("eu", down={p.name for p in topo.pops})
