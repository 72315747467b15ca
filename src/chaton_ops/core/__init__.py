"""Models, plans and pure logic. Imports no CLI, no subprocess and no network library."""
