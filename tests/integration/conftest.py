from conftest_netns import *  # noqa: F401,F403  (fixtures of the test network)
