-- The txcoord barrier for a participant whose state lives in MySQL / MariaDB (InnoDB). Apply it to the
-- participant's own database (sdk.barrier.MySqlBarrier.install does). Same rows as the PostgreSQL version.
CREATE TABLE IF NOT EXISTS txc_barrier (
    gid        VARCHAR(128) NOT NULL,
    branch_id  VARCHAR(64)  NOT NULL,
    op         VARCHAR(16)  NOT NULL,
    reason     VARCHAR(16)  NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (gid, branch_id, op)
) ENGINE = InnoDB;
