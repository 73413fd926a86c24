-- points install script, part 90: privileges, after every object exists.

----------------------------------------------------------------------
-- Privileges: nothing that changes the ledger is executable by PUBLIC.
----------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
-- Pure arithmetic on its arguments: harmless, and the views need it.
GRANT EXECUTE ON FUNCTION @extschema@.from_units(bigint, integer) TO PUBLIC;
