from redis_fixture import fresh_redis, node_loop, redis_server  # noqa: F401  (fixtures)
