"""Structure and Activation bindings: builders, zero-copy CSR views, vectorised functions."""

import unittest

import numpy as np

import simmatch


class StructureTest(unittest.TestCase):
    def test_dense(self):
        s = simmatch.Structure.dense(3, 4, value=2.0)
        self.assertEqual(s.shape, (3, 4))
        self.assertEqual(s.nnz, 12)
        np.testing.assert_array_equal(s.to_dense(), np.full((3, 4), 2.0))
        self.assertFalse(s.is_binary())

    def test_csr_views_are_read_only_and_zero_copy(self):
        s = simmatch.Structure.local2d((8, 8), stride=2, radius=2.0, neurons_per_site=3)
        self.assertEqual(s.shape, (48, 64))
        for a, dtype in ((s.indptr, np.int32), (s.indices, np.int32), (s.data, np.float64)):
            self.assertEqual(a.dtype, dtype)
            self.assertFalse(a.flags.writeable)
            with self.assertRaises(ValueError):
                a[0] = 1
        # Two reads are views of the same memory, not fresh copies.
        self.assertTrue(np.shares_memory(s.indices, s.indices))
        self.assertEqual(s.indptr[-1], s.nnz)
        dense = np.zeros(s.shape)
        for r in range(s.shape[0]):
            dense[r, s.indices[s.indptr[r]:s.indptr[r + 1]]] = s.data[s.indptr[r]:s.indptr[r + 1]]
        np.testing.assert_array_equal(dense, s.to_dense())

    def test_view_keeps_structure_alive(self):
        indices = simmatch.Structure.dense(5, 7).indices  # the Structure itself is a temporary
        np.testing.assert_array_equal(indices, np.tile(np.arange(7), 5))

    def test_local2d_geometry(self):
        # Site (i, j) centre (2i + 1, 2j + 1); pixel centre (k + .5, l + .5): radius 1 reaches
        # exactly the 4 pixels of the site's own 2x2 block.
        s = simmatch.Structure.local2d((4, 4), stride=2, radius=1.0, neurons_per_site=1)
        self.assertEqual(simmatch.Structure.local2d_output((4, 4), 2, 1), (2, 2, 1))
        np.testing.assert_array_equal(np.diff(s.indptr), [4, 4, 4, 4])
        np.testing.assert_array_equal(s.indices[:4], [0, 1, 4, 5])

    def test_lateral2d_and_symmetry(self):
        s = simmatch.Structure.lateral2d((3, 3, 2), radius=0)
        self.assertTrue(s.is_symmetric())
        self.assertEqual(s.nnz, 9 * 4)

    def test_from_dense_and_csr_round_trip(self):
        c = np.array([[0, 1.5, 0], [2, 0, 3]])
        s = simmatch.Structure.from_dense(c)
        np.testing.assert_array_equal(s.to_dense(), c)
        t = simmatch.Structure.from_csr(s.shape, s.indptr, s.indices, s.data)
        self.assertEqual(s, t)

    def test_from_dense_rejects_negative(self):
        with self.assertRaises(ValueError) as e:
            simmatch.Structure.from_dense(np.array([[1.0, -1.0]]))
        self.assertIsInstance(e.exception, simmatch.ConfigError)
        self.assertIsInstance(e.exception, simmatch.Error)

    def test_bad_builder_arguments(self):
        with self.assertRaises(simmatch.ConfigError):
            simmatch.Structure.local2d((9, 9), stride=2, radius=2, neurons_per_site=1)
        with self.assertRaises(TypeError):
            simmatch.Structure.local2d("28x28", stride=2, radius=2, neurons_per_site=1)
        with self.assertRaises(ValueError):
            simmatch.Structure.local2d((28, 0), stride=2, radius=2, neurons_per_site=1)


class ActivationTest(unittest.TestCase):
    def test_tanh(self):
        a = simmatch.Activation.tanh(2.0)
        u = np.linspace(-2, 2, 11)
        np.testing.assert_allclose(a.f(u), np.tanh(2 * u), rtol=1e-12)
        np.testing.assert_allclose(a(u), np.tanh(2 * u), rtol=1e-12)
        self.assertEqual((a.lower, a.upper), (-1.0, 1.0))
        r = np.array([-0.5, 0.0, 0.3])
        expected = r * np.arctanh(r) / 2 + np.log(1 - r**2) / 4 - r**2 / 2
        np.testing.assert_allclose(a.regulariser(r), expected, atol=1e-12)
        np.testing.assert_allclose(a.regulariser_derivative(r), np.arctanh(r) / 2 - r, atol=1e-12)

    def test_shapes_are_kept(self):
        a = simmatch.Activation.relu()
        u = np.arange(-3.0, 3.0).reshape(2, 3)
        self.assertEqual(a.f(u).shape, (2, 3))
        np.testing.assert_array_equal(a.f(u), np.maximum(u, 0))

    def test_names(self):
        for name in ("linear", "tanh", "relu", "clipped_relu"):
            self.assertEqual(simmatch.Activation.from_name(name).name, name)
        with self.assertRaises(simmatch.ConfigError):
            simmatch.Activation.from_name("sigmoid")
        self.assertEqual(simmatch.Activation.clipped_relu(2.0).f(np.array([5.0]))[0], 2.0)


if __name__ == "__main__":
    unittest.main()
