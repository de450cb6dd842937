-- The RDS-like admin: CREATEDB and CREATEROLE, not a superuser.
CREATE ROLE dbop_rds LOGIN CREATEDB CREATEROLE PASSWORD 'dbop-rds-pw';
