def test_each_department_reads_clients(world):
    for who in ("manager", "sales", "support"):
        assert world.as_(who).count("select id from client") == 2
