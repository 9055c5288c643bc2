BEGIN TRANSACTION;
CREATE TABLE kv_records (
    namespace TEXT NOT NULL,
    tbl TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    size INTEGER NOT NULL,
    expires_at REAL,
    accessed_at REAL NOT NULL,
    PRIMARY KEY (namespace, tbl, key)) WITHOUT ROWID;
INSERT INTO "kv_records" VALUES('default','embeddings','b0c60bcbfef5283010dff387c00e9fb1:q:0aba7bb3e7043e0b2edd472c6b897a5961392db27024aa75e26c28dad919f212',X'F304B53E00000000F304B5BE000000000000000000000000000000000000000000000000000000000000000000000000F30435BF00000000F304B53EF304B53E',64,NULL,1780000000.0);
INSERT INTO "kv_records" VALUES('default','kv:docstore/data','doc-1',X'7B227469746C65223A226B657074227D',16,NULL,1780000000.0);
INSERT INTO "kv_records" VALUES('default','lg-index/threads','thread-1',X'7B2274223A20313738303030303030302E302C202265223A206E756C6C7D',30,NULL,1780000000.0);
INSERT INTO "kv_records" VALUES('default','lg/thread-1','bmessagesi00000000000000000001',X'3100000002000000016C00000008D1DFD6324E79701C',22,NULL,1780000000.0);
INSERT INTO "kv_records" VALUES('default','lg/thread-1','cm8n;nnnnqnnnnqhnnnqfnnnqnnnnnnnnnnnm',X'31000000080000002431663063303030302D303030302D363030302D383030302D30303030303030303030303100000000000000076D73677061636B0000009687A17602A26964D92431663063303030302D303030302D363030302D383030302D303030303030303030303031A27473B9323032362D30352D32385430303A30303A30302B30303A3030B06368616E6E656C5F76657273696F6E7381A86D6573736167657301AD76657273696F6E735F7365656E80AD70656E64696E675F73656E647390B0757064617465645F6368616E6E656C73C0000000076D73677061636B0000001482A6736F75726365A5696E707574A47374657000000000247B226D65737361676573223A22693030303030303030303030303030303030303031227D00000000',293,NULL,1780000000.0);
INSERT INTO "kv_records" VALUES('default','lg/thread-1','g',X'65383131363362646631333139663931',16,NULL,1780000000.0);
INSERT INTO "kv_records" VALUES('default','lg/thread-1','imessagesd1dfd6324e79701c',X'316D73677061636B00A568656C6C6F',15,NULL,1780000000.0);
CREATE TABLE kv_tags (
    namespace TEXT NOT NULL,
    tbl TEXT NOT NULL,
    tag TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (namespace, tbl, tag, key)) WITHOUT ROWID;
CREATE TABLE list_items (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (namespace, key, seq)) WITHOUT ROWID;
INSERT INTO "list_items" VALUES('default','user-1',1,X'7B22726F6C65223A2275736572222C22636F6E74656E74223A2268656C6C6F227D');
INSERT INTO "list_items" VALUES('default','user-1',2,X'7B22726F6C65223A22617373697374616E74222C22636F6E74656E74223A226869227D');
CREATE TABLE list_meta (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    next_seq INTEGER NOT NULL,
    length INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    base_seq INTEGER NOT NULL,
    archived_through INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)) WITHOUT ROWID;
INSERT INTO "list_meta" VALUES('default','user-1',3,2,1780000000.0,0,0);
CREATE TABLE lix_leases (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    token TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE TABLE lix_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "lix_meta" VALUES('schema_version','1');
INSERT INTO "lix_meta" VALUES('store_id','57f5a6763fa84a8ab7cf33340efc5649');
INSERT INTO "lix_meta" VALUES('schema_digest','044a863e18e97f19');
CREATE TABLE lix_settings (
    namespace TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (namespace, field));
INSERT INTO "lix_settings" VALUES('default','embedder','retired/embedder-v1');
INSERT INTO "lix_settings" VALUES('default','metric','cosine');
INSERT INTO "lix_settings" VALUES('default','serialization','1');
INSERT INTO "lix_settings" VALUES('default','dimension','16');
CREATE TABLE semantic_counts (namespace TEXT PRIMARY KEY, n INTEGER NOT NULL);
INSERT INTO "semantic_counts" VALUES('default',1);
CREATE TABLE semantic_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    exact_key TEXT NOT NULL,
    partition TEXT NOT NULL,
    scope TEXT NOT NULL,
    llm_key TEXT NOT NULL,
    prompt TEXT NOT NULL,
    vector BLOB,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    accessed_at REAL NOT NULL,
    UNIQUE (namespace, exact_key));
INSERT INTO "semantic_entries" VALUES(1,'default','2225410cec749819a2dffd83069ed60e','2e7a4b021ecbd0ad38514f10bba30398','global','ff6c90d6cc27fba5e70fa86dd9bf63aa','what is the capital of france',X'F304B53E00000000F304B5BE000000000000000000000000000000000000000000000000000000000000000000000000F30435BF00000000F304B53EF304B53E','lix-meta{"labels":{"model":"llm-a"}}
Paris',1780000000.0,NULL,1780000000.0);
CREATE TABLE semantic_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    partition TEXT NOT NULL,
    entry_id INTEGER NOT NULL,
    added INTEGER NOT NULL);
INSERT INTO "semantic_log" VALUES(1,'default','2e7a4b021ecbd0ad38514f10bba30398',1,1);
CREATE INDEX semantic_partition ON semantic_entries (namespace, partition);
CREATE INDEX semantic_lru ON semantic_entries (namespace, accessed_at);
CREATE INDEX semantic_scope ON semantic_entries (namespace, scope);
CREATE INDEX semantic_llm ON semantic_entries (namespace, llm_key);
CREATE INDEX semantic_expiry ON semantic_entries (namespace, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX kv_lru ON kv_records (namespace, tbl, accessed_at);
CREATE INDEX kv_expiry ON kv_records (namespace, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX kv_tags_by_key ON kv_tags (namespace, tbl, key);
CREATE INDEX list_idle ON list_meta (namespace, updated_at) WHERE length > 0;
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('semantic_entries',1);
INSERT INTO "sqlite_sequence" VALUES('semantic_log',1);
COMMIT;
