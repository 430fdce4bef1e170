"""Background jobs (后台任务): long work outside the request on huey (SqliteHuey in instance/,
RedisHuey with REDIS_URL), its progress and result kept in the jobs table the job page polls,
and the periodic tasks (schedules.py) the consumer runs and `crm run-schedules` runs once."""
