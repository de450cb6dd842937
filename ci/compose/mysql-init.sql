-- The admin login of the tests, as ci/services.sh creates it for MariaDB.
CREATE USER IF NOT EXISTS 'dbop_admin'@'%' IDENTIFIED BY 'dbop-admin-pw';
GRANT ALL PRIVILEGES ON *.* TO 'dbop_admin'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
