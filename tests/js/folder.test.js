// Folders of photos (web/folder.js): `node --test tests/js/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { filesOfDrop, filesOfEntry, visibleFiles } from "../../web/folder.js";

const file = (name) => ({ name, type: "image/jpeg" });

function fileEntry(name) {
  return { name, isFile: true, isDirectory: false, file: (ok) => ok(file(name)) };
}

/** A directory entry whose reader answers in batches of two, as browsers do for big folders. */
function dirEntry(name, children) {
  return {
    name,
    isFile: false,
    isDirectory: true,
    createReader() {
      let at = 0;
      return {
        readEntries(ok) {
          const batch = children.slice(at, at + 2);
          at += batch.length;
          setImmediate(() => ok(batch));
        },
      };
    },
  };
}

const names = (files) => files.map((f) => f.name);

test("a folder is walked through every batch and subfolder, hidden files left out", async () => {
  const trip = dirEntry("trip", [
    fileEntry("b.jpg"),
    fileEntry(".DS_Store"),
    dirEntry("day2", [fileEntry("d.heic"), fileEntry("c.png")]),
    fileEntry("a.jpg"),
    dirEntry(".thumbnails", [fileEntry("x.jpg")]),
    fileEntry("Thumbs.db"),
  ]);
  assert.deepEqual(names(await filesOfEntry(trip)), ["a.jpg", "b.jpg", "c.png", "d.heic"]);
});

test("a drop with a folder gives the folder's files; plain files stay as dropped", async () => {
  const folder = dirEntry("pics", [fileEntry("one.jpg"), fileEntry("two.jpg")]);
  const drop = {
    items: [
      { kind: "file", webkitGetAsEntry: () => folder },
      { kind: "file", webkitGetAsEntry: () => fileEntry("loose.png") },
      { kind: "string", webkitGetAsEntry: () => null },
    ],
    files: [],
  };
  assert.deepEqual(names(await filesOfDrop(drop)), ["one.jpg", "two.jpg", "loose.png"]);

  const plain = {
    items: [{ kind: "file", webkitGetAsEntry: () => fileEntry("x.jpg") }],
    files: [file("x.jpg")],
  };
  assert.deepEqual(names(await filesOfDrop(plain)), ["x.jpg"]);
});

test("without the Entries API a drop is its files", async () => {
  const drop = { items: [{ kind: "file" }], files: [file("a.jpg"), file("b.jpg")] };
  assert.deepEqual(names(await filesOfDrop(drop)), ["a.jpg", "b.jpg"]);
  assert.deepEqual(names(await filesOfDrop(null)), []);
});

test("a chosen folder's hidden system files are left out", () => {
  const chosen = [file("a.jpg"), file(".DS_Store"), file("desktop.ini"), file("b.avif")];
  assert.deepEqual(names(visibleFiles(chosen)), ["a.jpg", "b.avif"]);
});
