def pytest_configure(config):
    config.addinivalue_line("markers", "slow(reason): a test that takes more than about 20 s, with why")
