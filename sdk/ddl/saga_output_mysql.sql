-- Saga step outputs kept by a participant whose state lives in MySQL / MariaDB (InnoDB); see the
-- PostgreSQL version for why.
CREATE TABLE IF NOT EXISTS txc_saga_output (
    gid        VARCHAR(128) NOT NULL,
    step_id    VARCHAR(64)  NOT NULL,
    output     LONGTEXT     NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (gid, step_id)
) ENGINE = InnoDB;
