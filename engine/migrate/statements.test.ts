import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitStatements } from './statements.js';

describe('splitStatements', () => {
  it('splits at top-level semicolons and reports each statement’s first line', () => {
    assert.deepEqual(
      splitStatements('-- header\nCREATE TABLE a (x int);\n\nCREATE INDEX CONCURRENTLY i ON a (x);\n'),
      [
        { sql: '-- header\nCREATE TABLE a (x int)', line: 1 },
        { sql: 'CREATE INDEX CONCURRENTLY i ON a (x)', line: 4 },
      ],
    );
  });

  it('keeps semicolons inside strings, identifiers, dollar quotes and comments', () => {
    const sql = [
      "INSERT INTO t VALUES ('a;b', 'it''s;', E'\\';x');",
      'SELECT 1 AS "odd;name";',
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$ BEGIN RETURN 1; END; $fn$;',
      'DO $$ BEGIN PERFORM 1; END $$;',
      '/* a; /* nested; */ still; */ SELECT 2;',
      'SELECT 3 -- trailing; comment',
    ].join('\n');
    assert.deepEqual(
      splitStatements(sql).map((s) => s.line),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(
      splitStatements(sql)[2].sql,
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$ BEGIN RETURN 1; END; $fn$',
    );
    assert.equal(splitStatements(sql)[5].sql, 'SELECT 3 -- trailing; comment');
  });

  it('does not take $1 parameters or a$b identifiers for dollar quotes', () => {
    assert.deepEqual(
      splitStatements('PREPARE p AS SELECT $1; SELECT a$b FROM t;').map((s) => s.sql),
      ['PREPARE p AS SELECT $1', 'SELECT a$b FROM t'],
    );
  });

  it('drops empty statements and comment-only tails', () => {
    assert.deepEqual(splitStatements(';;\n-- only a comment\n;  /* and this */ ').length, 0);
    assert.deepEqual(splitStatements(''), []);
  });
});
